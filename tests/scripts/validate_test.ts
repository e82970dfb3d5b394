/**
 * `deno task cli validate`: its pure parts (which slot, what report), and
 * three validators onboarding a machine with it, unattended, through the real
 * HTTP app (signatures checked), a real ledger (SQLite, real time, 20-second
 * slots) and real check VMs on libvirt: each grabs, waits for its own slot,
 * reports what its guest saw, and the machine goes online. One validator's
 * create fails when the image is not there (no report); a node that cannot
 * give the declared size makes a `failed` report.
 *
 * Fails (does not skip) when libvirt is not running.
 */
import assert from "node:assert/strict";
import { type AppDeps, createApp } from "../../http/mod.ts";
import {
  type CheckObserved,
  type MachineConfig,
  type Method,
  METHODS,
  RpcError,
  silentLogger,
  systemClock,
} from "../../mod/mod.ts";
import { Ledger } from "../../node_service/ledger/mod.ts";
import { startCheckVms } from "../../node_service/validation/mod.ts";
import { LocalLedgerVerification } from "../../node_service/verification/mod.ts";
import { runCli } from "../../scripts/cli/main.ts";
import { planSlot, reportFromObserved } from "../../scripts/cli/validate_report.ts";
import { registration } from "../machines.ts";
import { devWallets } from "../wallets.ts";
import {
  removeDomains,
  requireLibvirt,
  testGuest,
  testPrefix,
  vmScratchDir,
} from "../node_service/vm/libvirt_fixture.ts";
import { addGuestImages, NO_GPUS, openVmSetting } from "../node_service/vm/vm_fixture.ts";

const OBSERVED: CheckObserved = {
  cpu_cores: 4,
  cpu_model: "AMD EPYC 7763 64-Core Processor",
  memory_gib: 16,
  disk_gib: 100,
  gpus: [],
  missing: [],
};

Deno.test("the report: nvidia-smi's names, else PCI ids, else none; gaps make it failed", () => {
  assert.deepEqual(reportFromObserved(OBSERVED), {
    kind: "observed",
    observed: {
      gpu_model: "none",
      gpu_count: 0,
      cpu_model: "AMD EPYC 7763 64-Core Processor",
      cpu_cores: 4,
      memory_gib: 16,
      disk_gib: 100,
    },
  });
  const named = reportFromObserved({
    ...OBSERVED,
    gpus: [
      { vendor_id: "0x10de", device_id: "0x2684", name: "NVIDIA GeForce RTX 4090" },
      { vendor_id: "0x10de", device_id: "0x2684", name: "NVIDIA GeForce RTX 4090" },
    ],
  });
  assert.equal(named.kind === "observed" && named.observed.gpu_model, "NVIDIA GeForce RTX 4090");
  assert.equal(named.kind === "observed" && named.observed.gpu_count, 2);
  const unnamed = reportFromObserved({
    ...OBSERVED,
    gpus: [{ vendor_id: "0x10de", device_id: "0x2684" }, {
      vendor_id: "0x1002",
      device_id: "0x73bf",
    }],
  });
  assert.equal(unnamed.kind === "observed" && unnamed.observed.gpu_model, "10de:2684, 1002:73bf");
  // A guest that does not name its CPU still reports; the ledger then skips the model.
  const noModel = reportFromObserved({ ...OBSERVED, cpu_model: null, missing: ["cpu_model"] });
  assert.equal(noModel.kind, "observed");
  assert.equal(noModel.kind === "observed" && "cpu_model" in noModel.observed, false);
  assert.deepEqual(
    reportFromObserved({ ...OBSERVED, memory_gib: 0, missing: ["memory_gib"] }),
    { kind: "failed", reason: "the check VM's guest reported no memory_gib" },
  );
  assert.deepEqual(reportFromObserved({ ...OBSERVED, disk_gib: 0 }), {
    kind: "failed",
    reason: "the check VM's guest reported disk_gib 0",
  });
});

Deno.test("the slot: the open one with time left, else the next, else none", () => {
  const slots = [
    { starts_at: 0, ends_at: 60_000 },
    { starts_at: 180_000, ends_at: 240_000 },
  ];
  assert.deepEqual(planSlot(slots, 1_000), { kind: "now", index: 0, slot: slots[0] });
  // Too little of the open slot is left: the next one.
  assert.deepEqual(planSlot(slots, 50_000), {
    kind: "wait",
    index: 1,
    slot: slots[1],
    inMs: 130_000,
  });
  assert.deepEqual(planSlot(slots, 230_000), { kind: "none" });
});

/** 20-second slots: nine of them make a three-minute round. */
const SLOT_MS = 20_000;
const DECLARED: MachineConfig = {
  gpu_model: "none",
  gpu_count: 0,
  cpu_model: "QEMU Virtual CPU version 2.5+",
  cpu_cores: 2,
  memory_gib: 1,
  disk_gib: 1,
};

Deno.test("three validators onboard a machine with `validate`, unattended", async (t) => {
  await requireLibvirt();
  const guest = await testGuest();
  const prefix = testPrefix();
  const dir = await vmScratchDir("cli-validate");
  const { alice, bob, charlie, dave } = await devWallets();
  const ledger = Ledger.open(`${dir}/ledger.db`, {
    now: Date.now,
    verificationWindowMs: 9 * SLOT_MS,
    validators: [],
    renewalGraceMs: 0,
  });
  const setting = openVmSetting({ dir, prefix });
  const register = (name: string, config: MachineConfig) =>
    ledger.registerMachine(
      { account: alice.address, nonce: crypto.randomUUID(), nonce_expires_at: Date.now() + 1e9 },
      registration({
        machine: name,
        owner: alice.address,
        config,
        prices: { hour: "1000" },
        signedAt: Date.now(),
      }),
    ).machine_id;
  const machine = register("cli-validate-node", DECLARED);
  const big = register("cli-validate-big", { ...DECLARED, memory_gib: 4_096 });

  // What a GPU node (and the ledger authority) answer, each check VM service for its machine.
  const checksOf = (id: string) =>
    startCheckVms({
      db: setting.db,
      events: setting.events,
      vms: setting.service,
      images: setting.images,
      vmsReconciled: Promise.resolve(),
      verification: new LocalLedgerVerification(ledger),
      machineId: id,
      vmDir: `${dir}/vms`,
      gpuReport: () => Promise.resolve(NO_GPUS),
      clock: systemClock,
      log: silentLogger,
    });
  const nodes = { [machine]: checksOf(machine), [big]: checksOf(big) };
  const answer = async (method: Method, params: Record<string, unknown>, nodeId: string) => {
    // deno-lint-ignore no-explicit-any
    const p = params as any;
    switch (method) {
      case "ledger.machine_get":
        return ledger.getMachine(p.machine_id);
      case "ledger.order_grab":
        return ledger.grabOrder(p.signed_by, p.machine_id);
      case "ledger.order_report":
        return ledger.reportOrder(p.signed_by, p.machine_id, p.report);
    }
    if (method.startsWith("validation.")) {
      // deno-lint-ignore no-explicit-any
      return await (nodes[nodeId]!.handlers as any)[method](params, { from: "http" });
    }
    throw new RpcError("unavailable", `${method} is not answered in this test`);
  };
  /** The app of the GPU node `nodeId`; every message checked against the catalogue both ways. */
  const appOf = (nodeId: string) =>
    createApp({
      log: silentLogger,
      call: (async (method: Method, params: unknown) => {
        const spec = METHODS[method];
        const parsed = spec.params.parse(params) as Record<string, unknown>;
        return spec.result.parse(await answer(method, parsed, nodeId));
      }) as unknown as AppDeps["call"],
    });
  const validate = async (
    node: string,
    uri: string,
    extra: string[] = [],
    image = "base.qcow2",
  ) => {
    const app = appOf(node);
    const out: string[] = [];
    const err: string[] = [];
    const status = await runCli(
      [
        "validate",
        node,
        "--image",
        image,
        "--kernel",
        "vmlinuz",
        "--initrd",
        "initrd.img",
        ...extra,
      ],
      {
        env: (name) =>
          ({ DBC_WALLET_URI: uri, DBC_API: "http://gpu-node.test" } as Record<string, string>)[
            name
          ],
        out: (text) => out.push(text),
        err: (text) => err.push(text),
        fetch:
          ((input: Request | URL | string, init?: RequestInit) =>
            app.fetch(new Request(input, init))) as typeof fetch,
      },
    );
    const last = out.at(-1) ?? "";
    return { status, out, err, result: last.startsWith("{") ? JSON.parse(last) : undefined };
  };
  try {
    await addGuestImages(setting.images, guest);

    await t.step(
      "an image the node lacks is refused at once: no VM, no report, exit 1",
      async () => {
        const run = await validate(big, "//Ferdie", [], "missing.qcow2");
        assert.equal(run.status, 1);
        assert.equal(run.result, undefined, "no final report line");
        assert.match(run.err.join("\n"), /^error .*\(HTTP 404\): no image missing\.qcow2/);
        assert.match(run.out[0]!, /^grab: took the order for round 1, position 0/);
        const order = ledger.getMachine(big).validation.validators[0]!;
        assert.equal(order.reported_at, null);
      },
    );

    await t.step(
      "a node that cannot give the declared size: a `failed` report, exit 1",
      async () => {
        const run = await validate(big, "//Ferdie");
        assert.equal(run.status, 1, [...run.out, ...run.err].join("\n"));
        assert.equal(run.result?.report.kind, "failed");
        assert.match(
          run.result?.report.reason,
          /could not be made: this node cannot make a VM of the size its owner declared: memory_gib 4096/,
        );
        assert.equal(run.result?.machine.confirms, false);
        const order = ledger.getMachine(big).validation.validators[0]!;
        assert.equal(order.report?.kind, "failed");
      },
    );

    await t.step("three validators, each in its own slot: the machine goes online", async () => {
      const started = Date.now();
      const runs = await Promise.all([
        validate(machine, "//Bob"),
        validate(machine, "//Charlie"),
        validate(machine, "//Dave", ["--json"]),
      ]);
      for (const run of runs) {
        assert.equal(run.status, 0, [...run.out, ...run.err].join("\n"));
        assert.equal(run.result.report.kind, "observed");
        assert.deepEqual(run.result.report.observed, {
          gpu_model: "none",
          gpu_count: 0,
          cpu_model: DECLARED.cpu_model,
          cpu_cores: 2,
          memory_gib: 1,
          disk_gib: 1,
        });
        assert.equal(run.result.machine.confirms, true, JSON.stringify(run.result));
      }
      // Two of them waited for their slots, which open 20 and 40 seconds into the round.
      assert.ok(Date.now() - started >= 2 * SLOT_MS, `${Date.now() - started} ms`);
      const waited = runs.filter((run) =>
        run.out.some((line) => /^slot: waiting for slot|"opens_at"/.test(line))
      );
      assert.equal(waited.length, 2);
      const onboarded = ledger.getMachine(machine);
      assert.equal(onboarded.status, "online", JSON.stringify(onboarded.validation));
      assert.deepEqual(
        onboarded.validation.validators.map((order) => order.confirms),
        [true, true, true],
      );
      // Under --json every line is an object: the steps, then the result.
      const json = runs[2]!;
      assert.ok(
        json.out.every((line) => typeof JSON.parse(line) === "object"),
        json.out.join("\n"),
      );
      assert.deepEqual(
        json.out.slice(0, -1).map((line) => JSON.parse(line).step).filter((step, index, all) =>
          all.indexOf(step) === index
        ),
        ["grab", "slot", "create", "boot", "facts", "delete", "report"],
      );
      // Every check VM is gone, each deleted by its validator.
      const vms = await setting.service.list({ includeDeleted: true });
      assert.equal(vms.filter((vm) => vm.id.startsWith("chk-")).length, 3);
      assert.ok(
        vms.every((vm) => vm.state === "deleted"),
        JSON.stringify(vms.map((vm) => vm.state)),
      );
      for (const wallet of [bob, charlie, dave]) {
        const [check] = nodes[machine]!.service.list(wallet.address);
        assert.equal(check?.state === "deleted" && check.reason, "validator");
      }
    });
  } finally {
    for (const node of Object.values(nodes)) await node.stop();
    await removeDomains(prefix);
    await setting.close();
    ledger.close();
  }
});
