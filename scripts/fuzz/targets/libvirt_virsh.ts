/**
 * What virsh prints, as the node reads it (node_service/vm/libvirt/
 * virsh_output.ts, domain_facts.ts): output recorded from libvirt 9.0
 * (tests/fixtures/virsh/), domain lists rendered from any names and states,
 * domain XML, each with lines dropped, repeated, cut or garbled, and any
 * text. Contract: no parser throws; what they return is typed as promised
 * (known states, whole numbers, a VNC port in the TCP range or none, facts
 * that are numbers or null, never NaN); a list of domains written as virsh
 * writes it reads back as it was.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { DOMAIN_STATES, type DomainState } from "../../../node_service/vm/libvirt/hypervisor.ts";
import { readDomainFacts } from "../../../node_service/vm/libvirt/domain_facts.ts";
import {
  classifyVirshError,
  parseDomainList,
  parseDomainState,
  parseDomBlkList,
  parseDomIfAddr,
  parseDomInfo,
  parseVncDisplay,
  virshMessage,
} from "../../../node_service/vm/libvirt/virsh_output.ts";
import { mutatedLines, mutatedText, oddString } from "../mutate.ts";
import { expect, type FuzzTarget } from "../target.ts";

const FIXTURES = new URL("../../../tests/fixtures/virsh/", import.meta.url);
const KINDS = ["unavailable", "not_found", "conflict", "invalid", "failed"];
const DOMAIN_XML = `<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>dbc-vm-1</name>
  <metadata><dbc:instance xmlns:dbc="x" spec-sha256="${"ab".repeat(32)}"/></metadata>
  <memory unit='KiB'>4194304</memory>
  <vcpu placement='static'>4</vcpu>
  <qemu:commandline><qemu:arg value='user,id=dbcnet0,hostfwd=tcp:0.0.0.0:40022-:22'/></qemu:commandline>
</domain>`;

/** Lines of the shapes the parsers look for, with odd values in them. */
const digits = fc.oneof(fc.nat().map(String), fc.stringMatching(/^[0-9]{1,30}$/));
const shapedLines = fc.oneof(
  fc.tuple(fc.ipV4(), digits).map(([host, display]) => `${host}:${display}`),
  fc.tuple(oddString(12), digits).map(([unit, value]) =>
    `<memory unit='${unit}'>${value}</memory>`
  ),
  digits.map((value) => `<vcpu placement='static'>${value}</vcpu>`),
  digits.map((value) => `<qemu:arg value='user,hostfwd=tcp:0.0.0.0:${value}-:22'/>`),
  fc.tuple(oddString(12), oddString(12)).map(([key, value]) => `${key}: ${value}`),
  digits.map((value) => `Max memory:     ${value} KiB`),
  digits.map((value) => `CPU(s):         ${value}`),
  fc.tuple(oddString(10), fc.constantFrom(...DOMAIN_STATES)).map(([name, state]) =>
    ` 1 ${name} ${state}`
  ),
);
const shapedText = fc.array(shapedLines, { minLength: 1, maxLength: 8 }).map((lines) =>
  lines.join("\n")
);

type Domain = { id: number | null; name: string; state: DomainState };
type Input = { text: string; domains: Domain[] };

const names = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{0,30}$/),
  fc.stringMatching(/^[a-z]{1,8}( [a-z]{1,8}){1,2}$/),
);
const domains = fc.array(
  fc.record({
    id: fc.option(fc.nat(9999)),
    name: names,
    state: fc.constantFrom(...DOMAIN_STATES),
  }),
  { maxLength: 5 },
);

/** `virsh list --all` as libvirt 9.0 prints it. */
function renderList(list: readonly Domain[]): string {
  const rows = list.map((domain) =>
    ` ${String(domain.id ?? "-").padEnd(4)} ${domain.name.padEnd(15)} ${domain.state}`
  );
  return [" Id   Name            State", "-".repeat(32), ...rows, ""].join("\n");
}

export const target: FuzzTarget<Input> = {
  name: "libvirt.virsh",
  about: "virsh output parsers never throw, return what they promise, and read a list back",
  property: async () => {
    const recorded: string[] = [DOMAIN_XML];
    for await (const entry of Deno.readDir(FIXTURES)) {
      recorded.push(await Deno.readTextFile(new URL(entry.name, FIXTURES)));
    }
    const texts = fc.constantFrom(...recorded);
    return {
      arbitrary: fc.record({
        text: fc.oneof(
          { arbitrary: texts, weight: 1 },
          { arbitrary: mutatedLines(texts), weight: 4 },
          { arbitrary: mutatedText(texts), weight: 3 },
          { arbitrary: shapedText, weight: 3 },
          { arbitrary: oddString(200), weight: 1 },
        ),
        domains,
      }),
      check: ({ text, domains }) => {
        for (const domain of parseDomainList(text)) {
          expect(DOMAIN_STATES.includes(domain.state), `state ${domain.state}`);
          expect(domain.name.length > 0, "a domain without a name");
        }
        const state = parseDomainState(text);
        expect(state === undefined || DOMAIN_STATES.includes(state), `state ${state}`);
        const info = parseDomInfo(text);
        if (info) {
          expect(Number.isSafeInteger(info.vcpus) && info.vcpus >= 0, `vcpus ${info.vcpus}`);
          expect(Number.isSafeInteger(info.maxMemoryKib), `memory ${info.maxMemoryKib}`);
        }
        for (const disk of parseDomBlkList(text)) {
          expect(disk.target !== "" && disk.source !== "-", "an empty disk");
        }
        const vnc = parseVncDisplay(text);
        expect(
          vnc === null || (Number.isInteger(vnc) && vnc >= 5900 && vnc <= 65535),
          `VNC port ${vnc}`,
        );
        for (const address of parseDomIfAddr(text)) expect(address !== "", "an empty address");
        expect(KINDS.includes(classifyVirshError(text)), "an unknown error kind");
        expect(virshMessage(text) !== "", "an empty message");
        const facts = readDomainFacts(text);
        for (const [name, value] of Object.entries(facts)) {
          if (name === "specDigest") continue;
          expect(
            value === null || (typeof value === "number" && Number.isFinite(value) && value >= 0),
            `fact ${name} is ${value}`,
          );
        }
        // Written as virsh writes it, a list reads back as it was.
        assert.deepEqual(
          parseDomainList(renderList(domains)),
          domains.map(({ name, state }) => ({ name, state })),
        );
      },
    };
  },
};
