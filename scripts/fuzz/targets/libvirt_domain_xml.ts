/**
 * The domain XML writer (node_service/vm/libvirt/domain_xml.ts) with specs
 * that are valid, then have any field replaced by odd text or numbers
 * (markup, quotes, controls, lone surrogates, QEMU option separators...).
 * Contract: `buildDomainXml` refuses with a DomainSpecError, nothing else;
 * what it writes is well-formed XML (read by a strict reader) in which every
 * value given (names, paths, metadata, the kernel command line) reads back
 * exactly as it was given: escaped, never able to add markup of its own.
 */
import fc from "fast-check";
import {
  buildDomainXml,
  type DomainSpec,
  DomainSpecError,
} from "../../../node_service/vm/libvirt/domain_xml.ts";
import { oddNumber, oddString } from "../mutate.ts";
import { expect, type FuzzTarget, thrownBy } from "../target.ts";
import { findElement, readXml, textOf, type XmlElement } from "../xml_reader.ts";

const paths = fc.stringMatching(/^\/[a-z0-9/_.-]{1,40}$/);
/** A seed disk and a direct boot, drawn apart (built once: arbitraries are costly to make). */
const extras = fc.record({
  seed: fc.boolean(),
  boot: fc.option(
    fc.record({
      kernelPath: paths,
      initrdPath: fc.option(paths, { nil: undefined }),
      cmdline: fc.string({ maxLength: 60 }),
    }, { requiredKeys: ["kernelPath", "cmdline"] }),
    { nil: undefined },
  ),
});

const valid: fc.Arbitrary<DomainSpec> = fc.record({
  name: fc.stringMatching(/^dbc-[a-z0-9-]{1,20}$/),
  uuid: fc.uuid({ version: 4 }),
  domainType: fc.constantFrom("kvm" as const, "qemu" as const),
  os: fc.constantFrom("linux" as const, "windows" as const),
  firmware: fc.constantFrom("bios" as const, "uefi" as const),
  vcpus: fc.integer({ min: 1, max: 64 }),
  memoryMib: fc.integer({ min: 1, max: 1 << 20 }),
  diskPath: paths,
  gpuBusIds: fc.constantFrom([], ["00000000:18:00.0"], ["0000:2a:00.0", "0000:2b:00.0"]),
  network: fc.oneof(
    fc.record({
      mode: fc.constant("user" as const),
      forward: fc.record({
        hostAddress: fc.ipV4(),
        hostPort: fc.integer({ min: 1, max: 65535 }),
        guestPort: fc.constantFrom(22, 3389),
      }),
    }),
    fc.record({ mode: fc.constant("bridge" as const), bridge: fc.constantFrom("br0", "virbr1") }),
    fc.record({ mode: fc.constant("network" as const), network: fc.constantFrom("default") }),
  ),
  macAddress: fc.constantFrom("52:54:00:12:34:56", "52:54:00:ab:cd:ef"),
  vnc: fc.record({
    listen: fc.constantFrom("127.0.0.1", "0.0.0.0"),
    password: fc.stringMatching(/^[A-Za-z0-9]{1,8}$/),
    port: fc.integer({ min: 5900, max: 65535 }),
  }, { requiredKeys: ["listen", "password"] }),
  consoleLogPath: paths,
  metadata: fc.record({
    instanceId: fc.stringMatching(/^vm-[a-z0-9]{6}$/),
    owner: fc.stringMatching(/^5[1-9A-HJ-NP-Za-km-z]{47}$/),
  }),
}).chain((spec) =>
  extras.map(({ seed, boot }) => ({
    ...spec,
    ...(seed && spec.os === "linux" ? { seedDiskPath: "/var/lib/dbc/seed.img" } : {}),
    ...(boot ? { directBoot: boot } : {}),
  }))
);

/** Fields of the spec that hold text or numbers (typed, so each gets odd values of its type). */
const TEXT_FIELDS = [
  "name",
  "uuid",
  "diskPath",
  "seedDiskPath",
  "consoleLogPath",
  "macAddress",
  "metadata.instanceId",
  "metadata.owner",
  "vnc.listen",
  "vnc.password",
  "network.forward.hostAddress",
  "network.bridge",
  "network.network",
  "directBoot.kernelPath",
  "directBoot.initrdPath",
  "directBoot.cmdline",
  "gpuBusIds.0",
];
const NUMBER_FIELDS = [
  "vnc.port",
  "vcpus",
  "memoryMib",
  "network.forward.hostPort",
  "network.forward.guestPort",
];
const oddText = fc.oneof(
  oddString(30),
  oddString(20).map((text) => `/var/lib/${text}`),
  fc.constantFrom("a<b", 'a"b', "a&b", "a'b", "</name><x>", "a,b=c", "-:22", "\u0001", "]]>"),
);
const edits = fc.array(
  fc.oneof(
    fc.record({ field: fc.constantFrom(...TEXT_FIELDS), value: oddText as fc.Arbitrary<unknown> }),
    fc.record({
      field: fc.constantFrom(...NUMBER_FIELDS),
      value: oddNumber() as fc.Arbitrary<unknown>,
    }),
  ),
  { maxLength: 3 },
);

function edit(spec: DomainSpec, field: string, value: unknown): DomainSpec {
  const copy = structuredClone(spec) as unknown as Record<string, unknown>;
  const keys = field.split(".");
  let node = copy as Record<string, unknown> | undefined;
  for (const key of keys.slice(0, -1)) {
    const next = node?.[key];
    node = next !== null && typeof next === "object" ? next as Record<string, unknown> : undefined;
  }
  if (node && keys.at(-1)! in node) node[keys.at(-1)!] = value;
  return copy as unknown as DomainSpec;
}

type Input = { spec: DomainSpec; edits: { field: string; value: unknown }[] };

export const target: FuzzTarget<Input> = {
  name: "libvirt.domain_xml",
  about:
    "buildDomainXml refuses with DomainSpecError or writes well-formed XML whose values read back",
  property: () => ({
    arbitrary: fc.record({ spec: valid, edits }),
    check: (input) => {
      const spec = input.edits.reduce(
        (current, { field, value }) => edit(current, field, value),
        input.spec,
      );
      let xml: string | undefined;
      thrownBy(() => (xml = buildDomainXml(spec)), [DomainSpecError]);
      if (input.edits.length === 0) expect(xml !== undefined, "a valid spec was refused");
      if (xml === undefined) return;
      const root = readXml(xml);
      const reads = (element: XmlElement | undefined, value: string | undefined, what: string) =>
        expect(
          value === undefined || textOf(element) === value,
          () =>
            `${what} reads back as ${JSON.stringify(textOf(element))}, given ${
              JSON.stringify(value)
            }`,
        );
      const attribute = (name: string, key: string) => findElement(root, name)?.attributes[key];
      reads(findElement(root, "name"), spec.name, "the name");
      reads(findElement(root, "uuid"), spec.uuid, "the UUID");
      reads(findElement(root, "kernel"), spec.directBoot?.kernelPath, "the kernel");
      if (spec.directBoot?.cmdline) {
        reads(findElement(root, "cmdline"), spec.directBoot.cmdline, "the command line");
      }
      expect(
        attribute("dbc:instance", "owner") === spec.metadata.owner,
        "the owner does not read back",
      );
      expect(
        attribute("dbc:instance", "id") === spec.metadata.instanceId,
        "the instance id does not read back",
      );
      expect(attribute("source", "file") === spec.diskPath, "the disk path does not read back");
      const serial = findElement(root, "serial");
      const console = serial && findElement(serial, "source");
      expect(
        console?.attributes.path === spec.consoleLogPath,
        "the console path does not read back",
      );
    },
  }),
};
