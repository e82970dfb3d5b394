/**
 * The console parser of check VMs: the check script's lines become facts;
 * kernel noise, cut lines, made-up values and floods change nothing they
 * should not and never throw. The check script itself is run by busybox sh
 * on this host and its output parsed.
 */
import assert from "node:assert/strict";
import { CHECK_SCRIPT, parseCheckConsole } from "../../../node_service/validation/mod.ts";
import { scratchDir } from "../../helpers.ts";

const GIB_KB = 1024 * 1024;

/** A console log as the test guest writes one: kernel lines around the report. */
function consoleWith(report: string[]): string[] {
  return [
    "[    0.000000] Linux version 6.1.0-57-cloud-amd64",
    "DBC-TEST-GUEST-BOOTED",
    "DBC-CHECK-BEGIN",
    ...report,
    "DBC-CHECK-END",
    "DBC-TEST-USER-SCRIPT exit=0",
  ];
}

const QEMU_GUEST = [
  "DBC-CHECK nproc=2",
  "DBC-CHECK cpu_model=QEMU Virtual CPU version 2.5+",
  `DBC-CHECK memtotal_kb=${GIB_KB - 40_000}`,
  "DBC-CHECK block.vda=2097152",
  "DBC-CHECK block.vdb=2880",
  "DBC-CHECK block.loop0=0",
  "DBC-CHECK pci.0000:00:00.0=0x8086 0x1237 0x060000",
  "DBC-CHECK pci.0000:00:02.0=0x1234 0x1111 0x030000",
  "DBC-CHECK pci.0000:00:03.0=0x1af4 0x1041 0x020000",
];

Deno.test("a QEMU guest's report: cores, model, memory rounded up, its disk, no GPU", () => {
  const facts = parseCheckConsole(consoleWith(QEMU_GUEST));
  assert.deepEqual(facts, {
    state: "ready",
    observed: {
      cpu_cores: 2,
      cpu_model: "QEMU Virtual CPU version 2.5+",
      memory_gib: 1,
      disk_gib: 1,
      // The emulated VGA adapter is the hypervisor's, not a GPU.
      gpus: [],
      missing: [],
    },
  });
});

Deno.test("GPUs: display controllers by PCI id, named in nvidia-smi's order", () => {
  const facts = parseCheckConsole(consoleWith([
    ...QEMU_GUEST,
    "DBC-CHECK pci.0000:01:00.0=0x10de 0x2204 0x030000",
    "DBC-CHECK pci.0000:01:00.1=0x10de 0x1aef 0x040300",
    "DBC-CHECK pci.0000:02:00.0=0x10de 0x2204 0x030200",
    "DBC-CHECK pci.0000:03:00.0=0x1002 0x73bf 0x038000",
    "DBC-CHECK nvidia_smi=NVIDIA GeForce RTX 3090, 24576 MiB",
    "DBC-CHECK nvidia_smi=NVIDIA GeForce RTX 3090, 24576 MiB",
  ]));
  assert.equal(facts.state, "ready");
  if (facts.state !== "ready") return;
  assert.deepEqual(facts.observed.gpus, [
    { vendor_id: "0x10de", device_id: "0x2204", name: "NVIDIA GeForce RTX 3090" },
    { vendor_id: "0x10de", device_id: "0x2204", name: "NVIDIA GeForce RTX 3090" },
    { vendor_id: "0x1002", device_id: "0x73bf" },
  ]);
  assert.deepEqual(facts.observed.nvidia_smi, [
    "NVIDIA GeForce RTX 3090, 24576 MiB",
    "NVIDIA GeForce RTX 3090, 24576 MiB",
  ]);
});

Deno.test("booting until the report's end is there; the first whole report counts", () => {
  assert.deepEqual(parseCheckConsole([]), { state: "booting" });
  assert.deepEqual(
    parseCheckConsole(["DBC-CHECK-BEGIN", "DBC-CHECK nproc=2"]),
    { state: "booting" },
  );
  // An end without a begin (or lines outside a report) is no report.
  assert.deepEqual(parseCheckConsole(["DBC-CHECK nproc=2", "DBC-CHECK-END"]), {
    state: "booting",
  });
  const twice = [
    ...consoleWith(QEMU_GUEST),
    ...consoleWith(["DBC-CHECK nproc=64", ...QEMU_GUEST.slice(1)]),
  ];
  const facts = parseCheckConsole(twice);
  assert.equal(facts.state === "ready" && facts.observed.cpu_cores, 2);
  // A report cut short by a reboot is dropped for the next whole one.
  const cut = ["DBC-CHECK-BEGIN", "DBC-CHECK nproc=64", ...consoleWith(QEMU_GUEST)];
  const after = parseCheckConsole(cut);
  assert.equal(after.state === "ready" && after.observed.cpu_cores, 2);
});

Deno.test("what the guest did not say is missing; bad values are not taken", () => {
  const facts = parseCheckConsole(consoleWith([
    "DBC-CHECK nproc=two",
    "DBC-CHECK cpu_model=",
    "DBC-CHECK memtotal_kb=-5",
    "DBC-CHECK block.vda=1e9",
    "DBC-CHECK block.../../etc=2097152",
    "DBC-CHECK pci.0000:00:02.0=0x10de 0x2204",
    "DBC-CHECK pci.0000:00:03.0=nvidia rtx 0x030000",
    "DBC-CHECK pci.0000:00:04.0=0x10de 0x2204 0x030000 extra",
    "DBC-CHECK =nothing",
    "DBC-CHECK nproc",
  ]));
  assert.deepEqual(facts, {
    state: "ready",
    observed: {
      cpu_cores: 0,
      cpu_model: null,
      memory_gib: 0,
      disk_gib: 0,
      gpus: [],
      missing: ["cpu_cores", "cpu_model", "memory_gib", "disk_gib"],
    },
  });
});

Deno.test("without /sys/block the partitions' kB count, the largest being the disk", () => {
  const facts = parseCheckConsole(consoleWith([
    "DBC-CHECK nproc=4",
    "DBC-CHECK cpu_model=AMD EPYC 7763 64-Core Processor",
    `DBC-CHECK memtotal_kb=${16 * GIB_KB - 300_000}`,
    `DBC-CHECK partition_kb.vda=${100 * GIB_KB}`,
    `DBC-CHECK partition_kb.vda1=${100 * GIB_KB - 2048}`,
  ]));
  assert.equal(facts.state, "ready");
  if (facts.state !== "ready") return;
  assert.equal(facts.observed.disk_gib, 100);
  assert.equal(facts.observed.memory_gib, 16);
});

Deno.test("hostile console text: control characters, huge lines and floods never throw", () => {
  const junk = [
    "\u0000\u001b[31mDBC-CHECK-BEGIN",
    "x".repeat(100_000),
    `DBC-CHECK cpu_model=Evil\u0007 CPU\u001b   with   spaces ${"y".repeat(300)}`,
    ...Array.from({ length: 5_000 }, (_, index) => `DBC-CHECK block.vd${index}=${index}`),
    ...Array.from({ length: 5_000 }, () => "DBC-CHECK nvidia_smi=GPU, 1 MiB"),
    "DBC-CHECK nproc=99999999999999999999",
    `DBC-CHECK memtotal_kb=${"9".repeat(40)}`,
  ];
  const facts = parseCheckConsole(consoleWith(junk));
  assert.equal(facts.state, "ready");
  if (facts.state !== "ready") return;
  assert.equal(facts.observed.cpu_cores, 0);
  assert.ok(facts.observed.cpu_model!.length <= 128);
  // deno-lint-ignore no-control-regex
  assert.doesNotMatch(facts.observed.cpu_model!, /[\u0000-\u001f]/);
  assert.ok(facts.observed.missing.includes("memory_gib"));
  // Only so many lines of one report are looked at, whatever the guest prints.
  assert.ok((facts.observed.nvidia_smi?.length ?? 0) <= 64);
  assert.ok(facts.observed.disk_gib === 0);
  // A report beyond the lines read is not looked for.
  const far = [...Array.from({ length: 30_000 }, () => "noise"), ...consoleWith(QEMU_GUEST)];
  assert.deepEqual(parseCheckConsole(far), { state: "booting" });
  // Not even strings (a caller's bug) throw.
  assert.deepEqual(parseCheckConsole([undefined as unknown as string]), { state: "booting" });
});

Deno.test("the check script runs under busybox sh and what it prints parses", async () => {
  const dir = await scratchDir("check-script");
  const out = `${dir}/console`;
  // Everything but where it writes: a file here, not this host's serial port.
  const script = CHECK_SCRIPT.replace("out=/dev/ttyS0", `out=${out}`);
  assert.notEqual(script, CHECK_SCRIPT);
  assert.ok(CHECK_SCRIPT.startsWith("#!/bin/sh\n"));
  await Deno.writeTextFile(`${dir}/check.sh`, script);
  const run = await new Deno.Command("busybox", { args: ["sh", `${dir}/check.sh`] }).output();
  assert.equal(run.code, 0, new TextDecoder().decode(run.stderr));
  const lines = (await Deno.readTextFile(out)).split("\n");
  assert.ok(lines.every((line) => line === "" || line.startsWith("DBC-CHECK")), lines.join("\n"));
  const facts = parseCheckConsole(lines);
  assert.equal(facts.state, "ready");
  if (facts.state !== "ready") return;
  assert.equal(facts.observed.cpu_cores, navigator.hardwareConcurrency);
  const memoryKb = Number(/^MemTotal:\s+(\d+)/m.exec(await Deno.readTextFile("/proc/meminfo"))![1]);
  assert.equal(facts.observed.memory_gib, Math.ceil(memoryKb / GIB_KB));
  assert.ok(facts.observed.disk_gib > 0, JSON.stringify(facts.observed));
  assert.deepEqual(facts.observed.missing, []);
});
