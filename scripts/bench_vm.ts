/**
 * VM creation benchmark on real libvirt, with the test guest
 * (scripts/system/build_test_vm_image.sh). For each run it measures
 *
 *   node:  VmService.create (checks, SQLite records, overlay, XML,
 *          `virsh define --validate`, `virsh start`) until it resolves
 *          (libvirt reports the domain running), then until the guest's own
 *          boot marker shows on its serial console; then delete;
 *   bare:  the same domain made by hand: `qemu-img create` + `virsh define`
 *          + `virsh start` on a pre-generated XML, then the marker; then
 *          `virsh destroy` + `virsh undefine` + rm;
 *   define only: create without start (node) against `qemu-img create` +
 *          `virsh define` (bare), twice as many runs: the control path with
 *          no emulated boot to drown the difference in noise.
 *
 * and prints every run and the medians, with the node's overhead as a ratio
 * over bare virsh. Runs alternate node/bare so machine load hits both alike.
 *
 * Usage (as root, libvirt running):
 *   deno run --allow-all scripts/bench_vm.ts [--runs 5] [--domain-type qemu|kvm]
 */
import { openDatabase, silentLogger, VmCreateParamsSchema } from "../mod/mod.ts";
import {
  buildDomainXml,
  EventLog,
  GpuAllocator,
  ImageStore,
  LibvirtHypervisor,
  listeningPorts,
  SERVICE_MIGRATIONS,
  VM_FILES,
  VmService,
  VmStore,
} from "../node_service/mod.ts";

const URI = "qemu:///system";
const MARKER = "DBC-TEST-GUEST-BOOTED";
const BOOT_TIMEOUT_MS = 300_000;

function option(name: string, fallback: string): string {
  const at = Deno.args.indexOf(`--${name}`);
  return at >= 0 && Deno.args[at + 1] ? Deno.args[at + 1]! : fallback;
}

const runs = Number(option("runs", "5"));
const domainType = option("domain-type", "qemu") as "qemu" | "kvm";

async function run(program: string, args: string[]): Promise<string> {
  const output = await new Deno.Command(program, { args, stdout: "piped", stderr: "piped" })
    .output();
  if (output.code !== 0) {
    throw new Error(`${program} ${args.join(" ")}: ${new TextDecoder().decode(output.stderr)}`);
  }
  return new TextDecoder().decode(output.stdout);
}

async function waitForMarker(path: string): Promise<void> {
  const deadline = performance.now() + BOOT_TIMEOUT_MS;
  while (performance.now() < deadline) {
    try {
      if ((await Deno.readTextFile(path)).includes(MARKER)) return;
    } catch {
      // Not written yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`no boot marker in ${path}`);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const guestOutput = await run("bash", [
  new URL("./system/build_test_vm_image.sh", import.meta.url).pathname,
]);
const guest = Object.fromEntries(
  guestOutput.trim().split("\n").map((line) => {
    const at = line.indexOf("=");
    return [line.slice(0, at), line.slice(at + 1)];
  }),
);

const dir = await Deno.makeTempDir({ prefix: "dbc-bench-vm-" });
await Deno.chmod(dir, 0o711);
const prefix = `dbc-bench-${crypto.randomUUID().slice(0, 6)}-`;
const db = openDatabase(`${dir}/node.db`, SERVICE_MIGRATIONS);
const records = new VmStore(db, Date.now);
const images = new ImageStore({
  db,
  imageDir: `${dir}/images`,
  now: Date.now,
  usersOf: (name) => records.usersOfImage(name),
});
for (
  const [name, path] of [
    ["base.qcow2", guest.DBC_TEST_BASE_DISK],
    ["vmlinuz", guest.DBC_TEST_KERNEL],
    ["initrd.img", guest.DBC_TEST_INITRD],
  ]
) {
  const added = await images.add(name!, { kind: "path", path: path! }).done;
  if (added.state !== "ready") throw new Error(`image ${name}: ${added.error}`);
}
const service = new VmService({
  db,
  events: new EventLog(db, Date.now),
  hypervisor: new LibvirtHypervisor({ uri: URI }),
  images,
  gpus: new GpuAllocator(db, Date.now),
  gpuReport: () => Promise.resolve({ state: "none", gpus: [], reason: "bench", queried_at: 0 }),
  vmDir: `${dir}/vms`,
  domainType,
  network: { mode: "user" },
  listenAddress: "127.0.0.1",
  loginPorts: { first: 30000, last: 32767 },
  loginUser: "dbc",
  listeningPorts,
  domainPrefix: prefix,
  now: Date.now,
  log: silentLogger,
});
const request = VmCreateParamsSchema.parse({
  actor: "bench",
  image: "base.qcow2",
  cpu_cores: 1,
  memory_mib: 256,
  direct_boot: {
    kernel_image: "vmlinuz",
    initrd_image: "initrd.img",
    cmdline: guest.DBC_TEST_CMDLINE,
  },
});

type Sample = { running: number; booted: number; deleted: number };
const node: Sample[] = [];
const bare: Sample[] = [];

async function nodeRun(): Promise<Sample> {
  const started = performance.now();
  const vm = await service.create(request);
  const running = performance.now() - started;
  await waitForMarker(`${dir}/vms/${vm.id}/${VM_FILES.console}`);
  const booted = performance.now() - started;
  const deleteStart = performance.now();
  await service.delete("bench", vm.id);
  return { running, booted, deleted: performance.now() - deleteStart };
}

/** The domain XML the bare runs use: what the node would generate, prepared beforehand. */
function bareXml(name: string, vmDir: string, hostPort: number): string {
  return buildDomainXml({
    name,
    uuid: crypto.randomUUID(),
    domainType,
    os: "linux",
    firmware: "bios",
    vcpus: 1,
    memoryMib: 256,
    diskPath: `${vmDir}/disk.qcow2`,
    directBoot: {
      kernelPath: `${dir}/images/vmlinuz`,
      initrdPath: `${dir}/images/initrd.img`,
      cmdline: guest.DBC_TEST_CMDLINE!,
    },
    gpuBusIds: [],
    network: {
      mode: "user",
      forward: { hostAddress: "127.0.0.1", hostPort, guestPort: 22 },
    },
    macAddress: "52:54:00:be:be:01",
    vnc: { listen: "127.0.0.1", password: "bench" },
    consoleLogPath: `${vmDir}/console.log`,
    metadata: { instanceId: name, owner: "bench" },
  });
}

async function bareRun(index: number): Promise<Sample> {
  const name = `${prefix}bare-${index}`;
  const vmDir = `${dir}/bare-${index}`;
  await Deno.mkdir(vmDir, { mode: 0o711 });
  await Deno.chmod(vmDir, 0o711);
  const xmlPath = `${vmDir}/domain.xml`;
  await Deno.writeTextFile(xmlPath, bareXml(name, vmDir, 32700 + index));
  const started = performance.now();
  await run("qemu-img", [
    "create",
    "-q",
    "-f",
    "qcow2",
    "-F",
    "qcow2",
    "-b",
    `${dir}/images/base.qcow2`,
    `${vmDir}/disk.qcow2`,
  ]);
  await run("virsh", ["-c", URI, "define", xmlPath]);
  await run("virsh", ["-c", URI, "start", name]);
  const running = performance.now() - started;
  await waitForMarker(`${vmDir}/console.log`);
  const booted = performance.now() - started;
  const deleteStart = performance.now();
  await run("virsh", ["-c", URI, "destroy", name]);
  await run("virsh", ["-c", URI, "undefine", name, "--nvram"]);
  await Deno.remove(vmDir, { recursive: true });
  return { running, booted, deleted: performance.now() - deleteStart };
}

/** Create without start, then delete: the control path alone, with no guest boot in the way. */
async function nodeDefineRun(): Promise<number> {
  const started = performance.now();
  const vm = await service.create({ ...request, start: false });
  const elapsed = performance.now() - started;
  await service.delete("bench", vm.id);
  return elapsed;
}

async function bareDefineRun(index: number): Promise<number> {
  const name = `${prefix}def-${index}`;
  const vmDir = `${dir}/def-${index}`;
  await Deno.mkdir(vmDir, { mode: 0o711 });
  const xmlPath = `${vmDir}/domain.xml`;
  await Deno.writeTextFile(xmlPath, bareXml(name, vmDir, 32600));
  const started = performance.now();
  await run("qemu-img", [
    "create",
    "-q",
    "-f",
    "qcow2",
    "-F",
    "qcow2",
    "-b",
    `${dir}/images/base.qcow2`,
    `${vmDir}/disk.qcow2`,
  ]);
  await run("virsh", ["-c", URI, "define", xmlPath]);
  const elapsed = performance.now() - started;
  await run("virsh", ["-c", URI, "undefine", name, "--nvram"]);
  await Deno.remove(vmDir, { recursive: true });
  return elapsed;
}

const fmt = (ms: number) => `${ms.toFixed(0).padStart(6)} ms`;
try {
  console.log(
    `VM creation benchmark: ${runs} runs each, domain type ${domainType}, libvirt ${URI}`,
  );
  console.log(
    `${"run".padEnd(10)} ${"to running".padStart(10)} ${"to marker".padStart(10)} ${
      "delete".padStart(10)
    }`,
  );
  // One unmeasured warm-up of each, so the first run does not pay for cold caches.
  await nodeRun();
  await bareRun(99);
  for (let index = 0; index < runs; index++) {
    const n = await nodeRun();
    node.push(n);
    console.log(`node #${index + 1}`.padEnd(10), fmt(n.running), fmt(n.booted), fmt(n.deleted));
    const b = await bareRun(index);
    bare.push(b);
    console.log(`bare #${index + 1}`.padEnd(10), fmt(b.running), fmt(b.booted), fmt(b.deleted));
  }
  const defineRuns = runs * 2;
  const nodeDefine: number[] = [];
  const bareDefine: number[] = [];
  for (let index = 0; index < defineRuns; index++) {
    nodeDefine.push(await nodeDefineRun());
    bareDefine.push(await bareDefineRun(index));
  }
  const list = (values: number[]) => values.map((ms) => ms.toFixed(0)).join(" ");
  console.log(`\ncreate without start, ${defineRuns} runs each (ms): node ${list(nodeDefine)}`);
  console.log(`${"".padEnd(38)}bare ${list(bareDefine)}`);

  console.log("\nmedians");
  const report = (label: string, nodeMs: number, bareMs: number) =>
    console.log(
      `${label.padEnd(22)} node ${fmt(nodeMs)}  bare virsh ${fmt(bareMs)}  ` +
        `node/bare ${(nodeMs / bareMs).toFixed(2)}x  (node's own work ${
          (nodeMs - bareMs).toFixed(0)
        } ms)`,
    );
  const m = (samples: Sample[], key: keyof Sample) => median(samples.map((sample) => sample[key]));
  report("request to running", m(node, "running"), m(bare, "running"));
  report("request to boot marker", m(node, "booted"), m(bare, "booted"));
  report("delete", m(node, "deleted"), m(bare, "deleted"));
  report("create without start", median(nodeDefine), median(bareDefine));
} finally {
  for (const name of (await run("virsh", ["-c", URI, "list", "--all", "--name"])).split("\n")) {
    if (!name.startsWith(prefix)) continue;
    await run("virsh", ["-c", URI, "destroy", name]).catch(() => {});
    await run("virsh", ["-c", URI, "undefine", name, "--nvram"]).catch(() => {});
  }
  await images.close();
  db.close();
  await Deno.remove(dir, { recursive: true });
}
