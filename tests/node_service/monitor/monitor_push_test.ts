/**
 * Renters' monitoring servers end to end in the node service: a real VM on
 * libvirt (emulated), the real SQLite store, the real rounds every second
 * (`virsh domstats`, the host's counters) and the real push process, to real
 * TCP listeners speaking the Zabbix protocol (zabbix_listener.ts). A renter's
 * server gets its VM's and, while it rents, the machine's agent data, after
 * the original's "active checks"; another renter's server gets only its own
 * VM's. Refused addresses change nothing, and the push process's own
 * permissions refuse private addresses at the connection.
 *
 * Fails (does not skip) when libvirt is not running.
 */
import assert from "node:assert/strict";
import {
  loadConfig,
  nodePaths,
  openDatabase,
  RpcError,
  serviceProgramPaths,
  silentLogger,
  systemClock,
  VERSION,
  workerPermissions,
} from "../../../mod/mod.ts";
import type { MonitorProbeReport } from "../../fixtures/monitor_probe.ts";
import { EventLog } from "../../../node_service/event_log.ts";
import { SERVICE_MIGRATIONS } from "../../../node_service/migrations.ts";
import {
  type MonitorDeps,
  MonitorService,
  MonitorStore,
  processPusher,
  type PushJob,
} from "../../../node_service/monitor/mod.ts";
import { scratchDir, waitFor } from "../../helpers.ts";
import { devWallets } from "../../wallets.ts";
import {
  LIBVIRT_URI,
  removeDomains,
  requireLibvirt,
  run,
  testGuest,
  testPrefix,
  virsh,
  vmScratchDir,
} from "../vm/libvirt_fixture.ts";
import { addGuestImages, guestRequest, NO_GPUS, openVmSetting } from "../vm/vm_fixture.ts";
import { startZabbixListener } from "./zabbix_listener.ts";
import { diskKeys, hostKeys, vmKeys } from "./original_keys.ts";

const MACHINE_ID = "5d".repeat(32);
const CONTEXT = { from: "http" as const };

type Item = { host: string; key: string; value: unknown; clock: number; ns: number };
type Agent = { request: string; data: Item[]; clock: number; ns: number };

function serviceDeps(
  overrides: Partial<MonitorDeps> & Pick<MonitorDeps, "store" | "events">,
): MonitorDeps {
  return {
    config: {
      role: "gpu",
      monitor_interval_s: 1,
      monitor_allow_private: true,
      libvirt_uri: LIBVIRT_URI,
    },
    machineId: MACHINE_ID,
    clock: systemClock,
    log: silentLogger,
    vms: () => [],
    gpuReport: () => Promise.resolve(NO_GPUS),
    renting: () => Promise.resolve(false),
    deniedHosts: [],
    diskPath: "/",
    ...overrides,
  };
}

/** The requests a listener read for `host`, as `active`/`data` in order. */
function sequence(received: Array<{ request: Record<string, unknown> }>, host: string): string[] {
  return received.flatMap(({ request }) => {
    if (request.request === "active checks") return request.host === host ? ["active"] : [];
    const items = request.data as Item[];
    return items.every((item) => item.host === host) ? ["data"] : [];
  });
}

function checkClocks(agent: Agent, from: number, to: number): void {
  for (const item of [agent, ...agent.data]) {
    assert.ok(Number.isInteger(item.clock) && Number.isInteger(item.ns), JSON.stringify(item));
    assert.ok(item.ns >= 0 && item.ns < 1e9, JSON.stringify(item));
    const ms = item.clock * 1000 + item.ns / 1e6;
    assert.ok(ms >= from - 1 && ms <= to + 1, `${JSON.stringify(item)} outside ${from}..${to}`);
  }
}

const valuesOf = (agent: Agent) => new Map(agent.data.map((item) => [item.key, item.value]));

Deno.test("a renter's server gets its VM's and the machine's metrics each round, in the original's format", async () => {
  await requireLibvirt();
  const { alice, bob } = await devWallets();
  const guest = await testGuest();
  const prefix = testPrefix();
  const dir = await vmScratchDir("monitor-push");
  const setting = openVmSetting({ dir, prefix });
  const alices = startZabbixListener({ knows: () => true });
  const bobs = startZabbixListener({ knows: () => true });
  let service: MonitorService | undefined;
  const started = Date.now();
  try {
    await addGuestImages(setting.images, guest);
    const vm = await setting.service.create(guestRequest(guest, { actor: alice.address }));
    const bobVm = await setting.service.create(guestRequest(guest, { actor: bob.address }));
    await setting.service.stop(bob.address, bobVm.id, { force: true });

    const store = new MonitorStore(setting.db, Date.now);
    service = new MonitorService(serviceDeps({
      store,
      events: setting.events,
      vms: () => setting.service.summaries(),
      renting: (account) => Promise.resolve(account === alice.address),
      diskPath: `${dir}/vms`,
    }));
    const handlers = service.handlers();
    const server = `127.0.0.1:${alices.port}`;
    assert.deepEqual(
      await handlers["monitor.set"](
        { actor: alice.address, account: alice.address, servers: [server] },
        CONTEXT,
      ),
      { servers: [server] },
    );
    await handlers["monitor.set"](
      {
        actor: `${bob.address}/session:ses_abcdef`,
        account: bob.address,
        servers: [`127.0.0.1:${bobs.port}`],
      },
      CONTEXT,
    );
    assert.deepEqual(
      await handlers["monitor.list"]({ account: alice.address }, CONTEXT),
      { servers: [server] },
    );
    service.start();

    await waitFor(
      "two rounds at alice's server and one at bob's",
      () =>
        alices.agentData(vm.id).length >= 2 && alices.agentData(MACHINE_ID).length >= 2 &&
          bobs.agentData(bobVm.id).length >= 1
          ? true
          : undefined,
      60_000,
    );
    const now = Date.now();

    // Asked once whether the server wants each host, then data every round.
    assert.deepEqual(sequence(alices.received, vm.id).slice(0, 3), ["active", "data", "data"]);
    assert.deepEqual(sequence(alices.received, MACHINE_ID).slice(0, 3), ["active", "data", "data"]);
    // Each renter's server gets its own VMs only; the machine's data only while the renter rents.
    assert.deepEqual(sequence(alices.received, bobVm.id), []);
    assert.deepEqual(sequence(bobs.received, vm.id), []);
    assert.deepEqual(sequence(bobs.received, MACHINE_ID), []);

    // The VM's agent data: every key the original sends (two disks, no host-side NIC, no GPU).
    const [first, second] = alices.agentData(vm.id) as Agent[];
    for (const agent of [first!, second!]) {
      assert.equal(agent.request, "agent data");
      assert.deepEqual(agent.data.map((item) => item.key), vmKeys(2));
      assert.ok(agent.data.every((item) => item.host === vm.id));
      checkClocks(agent, started, now);
    }
    const vda = await virsh("domblkinfo", vm.domain, "vda");
    const capacity = Number(/Capacity:\s+(\d+)/.exec(vda.stdout)?.[1]);
    const one = valuesOf(first!);
    const two = valuesOf(second!);
    assert.equal(one.get("dom.state"), "running");
    assert.equal(one.get("dom.maxMem"), 256 * 1024);
    assert.equal(one.get("dom.memory"), 256 * 1024);
    assert.equal(one.get("dom.nrVirtCpu"), 1);
    assert.equal(one.get("dom.cpuUsage"), 0, "no previous round yet");
    assert.equal(one.get("memory.usage"), 0, "no previous round yet");
    assert.ok((two.get("dom.cpuTime") as number) > (one.get("dom.cpuTime") as number));
    const cpuUsage = two.get("dom.cpuUsage") as number;
    assert.ok(cpuUsage > 0 && Number.isFinite(cpuUsage), `dom.cpuUsage ${cpuUsage}`);
    assert.equal(one.get("memory.total"), 256 * 1024);
    for (const key of ["memory.unused", "memory.available"]) {
      assert.ok(Number.isInteger(one.get(key)), key);
    }
    const memoryUsage = two.get("memory.usage") as number;
    assert.ok(memoryUsage >= 0 && memoryUsage <= 100, `memory.usage ${memoryUsage}`);
    assert.equal(one.get("disk.0.name"), "vda");
    assert.equal(one.get("disk.0.capacity"), capacity);
    assert.equal(one.get("disk.1.name"), "vdb", "the cloud-init seed disk");
    for (const index of [0, 1]) {
      for (const key of diskKeys(index).slice(1, 8)) {
        assert.ok(Number.isInteger(one.get(key)) && (one.get(key) as number) >= 0, key);
      }
      assert.equal(one.get(`disk.${index}.errs`), -1, "QEMU keeps no error count");
      for (const key of diskKeys(index).slice(9)) {
        assert.ok(typeof two.get(key) === "number" && (two.get(key) as number) >= 0, key);
      }
    }
    assert.equal(one.get("dbc.version"), VERSION);
    assert.equal(one.get("disk.count"), 2);
    assert.equal(one.get("net.count"), 0);
    assert.equal(one.get("gpu.count"), 0);

    // Bob's stopped VM: the original's words and stand-ins for a VM that does not run.
    const bobs1 = valuesOf(bobs.agentData(bobVm.id)[0] as Agent);
    assert.equal(bobs1.get("dom.state"), "shut_off");
    assert.equal(bobs1.get("memory.unused"), 256 * 1024);
    assert.equal(bobs1.get("disk.0.rd_req"), 0);
    assert.equal(bobs1.get("disk.0.errs"), 0);

    // The machine's agent data.
    const [hostFirst, hostSecond] = alices.agentData(MACHINE_ID) as Agent[];
    assert.deepEqual(hostFirst!.data.map((item) => item.key), hostKeys(0));
    checkClocks(hostFirst!, started, now);
    const host = valuesOf(hostSecond!);
    assert.ok(hostSecond!.data.every((item) => item.host === MACHINE_ID));
    assert.equal(host.get("host.gpuCount"), 0);
    assert.equal(host.get("host.gpuUsed"), 0);
    assert.equal(host.get("host.vmCount"), 1, "alice's VMs only");
    assert.equal(host.get("host.vmRunning"), 1);
    const hostCpu = host.get("host.cpuUsage") as number;
    assert.ok(hostCpu >= 0 && hostCpu <= 100, `host.cpuUsage ${hostCpu}`);
    assert.equal(host.get("host.memTotal"), Math.floor(Deno.systemMemoryInfo().total / 1024));
    assert.ok((host.get("host.memFree") as number) < (host.get("host.memTotal") as number));
    const memUsage = host.get("host.memUsage") as number;
    assert.ok(memUsage > 0 && memUsage < 100, `host.memUsage ${memUsage}`);
    assert.equal(host.get("host.rxFlow"), 0, "user-mode networking: no host-side interface");
    assert.equal(host.get("host.txFlow"), 0);
    const df = await run("df", ["-k", "--output=size", `${dir}/vms`]);
    assert.equal(host.get("host.diskTotal"), Number(df.stdout.trim().split("\n")[1]));
    const diskFree = host.get("host.diskFree") as number;
    assert.ok(diskFree > 0 && diskFree < (host.get("host.diskTotal") as number));
    const diskUsage = host.get("host.diskUsage") as number;
    assert.ok(diskUsage > 0 && diskUsage < 100, `host.diskUsage ${diskUsage}`);
    assert.equal(host.get("host.diskMountStatus"), "normal");
    for (const key of ["host.loadAverage.1", "host.loadAverage.5", "host.loadAverage.15"]) {
      assert.ok(typeof host.get(key) === "number" && (host.get(key) as number) >= 0, key);
    }
    assert.equal(host.get("host.dbcVersion"), VERSION);

    // Bad input is refused and changes nothing.
    for (
      const servers of [
        ["127.0.0.1"],
        ["zabbix.example.com:99999"],
        ["a.example:1", "b.example:1", "c.example:1"],
        [server, server],
      ]
    ) {
      await assert.rejects(
        async () =>
          await handlers["monitor.set"](
            { actor: alice.address, account: alice.address, servers },
            CONTEXT,
          ),
        (error) => error instanceof RpcError && error.code === "invalid_params",
        JSON.stringify(servers),
      );
    }
    assert.deepEqual(store.list(alice.address), [{ host: "127.0.0.1", port: alices.port }]);
    const sets = setting.events.list({ action: "monitor.set", limit: 10 });
    assert.deepEqual(sets.map((event) => [event.actor, event.target]).reverse(), [
      [alice.address, alice.address],
      [`${bob.address}/session:ses_abcdef`, bob.address],
    ]);

    // An empty list stops the pushes: a round after it has nothing to send to alice's server.
    await service.stop();
    const before = alices.received.length;
    await handlers["monitor.set"](
      { actor: alice.address, account: alice.address, servers: [] },
      CONTEXT,
    );
    const after = await service.round();
    assert.ok(after.jobs.every(({ job }) => job.port !== alices.port), JSON.stringify(after.jobs));
    assert.ok(after.jobs.some(({ job }) => job.port === bobs.port), "bob's list still stands");
    assert.equal(alices.received.length, before);
    assert.deepEqual(await handlers["monitor.list"]({ account: alice.address }, CONTEXT), {
      servers: [],
    });
  } finally {
    await service?.stop();
    await alices.close();
    await bobs.close();
    await removeDomains(prefix);
    await setting.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a node that sends no monitoring data refuses servers; a private address is refused unless allowed", async () => {
  const { alice } = await devWallets();
  const dir = await scratchDir("monitor-refusals");
  const db = openDatabase(`${dir}/node.db`, SERVICE_MIGRATIONS);
  try {
    const store = new MonitorStore(db, Date.now);
    const events = new EventLog(db, Date.now);
    const set = (service: MonitorService, servers: string[]) =>
      service.handlers()["monitor.set"](
        { actor: alice.address, account: alice.address, servers },
        CONTEXT,
      );
    const base = serviceDeps({ store, events });
    const publicOnly = new MonitorService({
      ...base,
      config: { ...base.config, monitor_allow_private: false },
    });
    await set(publicOnly, ["zabbix.example.com:10051"]);
    for (
      const servers of [["127.0.0.1:10051"], ["zabbix.example.com:10051", "192.168.1.9:10051"]]
    ) {
      await assert.rejects(
        async () => await set(publicOnly, servers),
        /loopback, private or link-local.*monitor_allow_private/,
      );
    }
    for (const config of [{ monitor_interval_s: 0 }, { role: "seed" as const }]) {
      const off = new MonitorService({ ...base, config: { ...base.config, ...config } });
      await assert.rejects(
        async () => await set(off, ["zabbix.example.com:10051"]),
        (error) => error instanceof RpcError && error.code === "conflict",
      );
    }
    assert.deepEqual(store.list(alice.address), [{ host: "zabbix.example.com", port: 10051 }]);
    assert.equal(events.list({ action: "monitor.set", limit: 10 }).length, 1);
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the push process: private addresses refused at the connection, deadlines kept, unwanted hosts not sent", async () => {
  const knowing = startZabbixListener({ knows: (host) => host === "vm-known" });
  const silent = startZabbixListener({ knows: () => true, silent: true });
  const closedPort = (() => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const { port } = listener.addr as Deno.NetAddr;
    listener.close();
    return port;
  })();
  const job = (port: number, host: string, hostname = "127.0.0.1"): PushJob => ({
    hostname,
    port,
    host,
    ask: true,
    data: JSON.stringify({ request: "agent data", data: [], clock: 1, ns: 0 }),
  });
  const never = new AbortController().signal;
  try {
    const publicOnly = processPusher({
      allowPrivate: false,
      deniedHosts: [],
      connectionTimeoutMs: 2_000,
      roundDeadlineMs: 30_000,
    });
    const refused = await publicOnly([
      job(knowing.port, "vm-known"),
      job(knowing.port, "vm-known", "localhost"),
    ], never);
    for (const outcome of refused) {
      assert.equal(outcome.kind, "failed");
      assert.ok(outcome.kind === "failed" && outcome.not_allowed, JSON.stringify(outcome));
    }
    assert.equal(knowing.connections(), 0, "Deno refused the connection itself");

    const lan = processPusher({
      allowPrivate: true,
      deniedHosts: [],
      connectionTimeoutMs: 300,
      roundDeadlineMs: 30_000,
    });
    const [known, unknown, cut, gone] = await lan([
      job(knowing.port, "vm-known"),
      job(knowing.port, "vm-unknown"),
      job(silent.port, "vm-known"),
      job(closedPort, "vm-known"),
    ], never);
    assert.equal(known?.kind, "sent");
    assert.ok(known?.kind === "sent" && known.accepted && /processed: 0/.test(known.answer));
    assert.equal(unknown?.kind, "unwanted");
    // One server's jobs go in turn: the known host asked and sent, the unknown one only asked.
    assert.deepEqual(
      knowing.received.map(({ request }) => [request.request, request.host ?? "-"]),
      [["active checks", "vm-known"], ["agent data", "-"], ["active checks", "vm-unknown"]],
    );
    assert.equal(
      knowing.received.filter(({ request }) => request.request === "agent data").length,
      1,
      "the unknown host's data was not sent",
    );
    assert.ok(
      cut?.kind === "failed" && /no answer within 300 ms/.test(cut.reason),
      JSON.stringify(cut),
    );
    assert.ok(gone?.kind === "failed" && !gone.not_allowed, JSON.stringify(gone));

    const hurried = processPusher({
      allowPrivate: true,
      deniedHosts: [],
      connectionTimeoutMs: 20_000,
      roundDeadlineMs: 1_000,
    });
    const [late] = await hurried([job(silent.port, "vm-known")], never);
    assert.ok(
      late?.kind === "failed" && /ran past its 1000 ms/.test(late.reason),
      JSON.stringify(late),
    );
  } finally {
    await knowing.close();
    await silent.close();
  }
});

Deno.test("under the node service's own permissions: the host is read, the server only through the push process", async () => {
  const dir = await scratchDir("monitor-permissions");
  const listener = startZabbixListener({ knows: () => true });
  const { config } = loadConfig({ args: ["--data-dir", `${dir}/data`], env: {}, cwd: dir });
  const paths = nodePaths(config.data_dir);
  await Deno.mkdir(paths.serviceDir, { recursive: true });
  const permissions = workerPermissions("node_service", {
    config,
    paths,
    programPaths: serviceProgramPaths(Deno.env.get("PATH")),
  });
  const worker = new Worker(new URL("../../fixtures/monitor_probe.ts", import.meta.url), {
    type: "module",
    deno: { permissions },
  } as WorkerOptions);
  try {
    const report = await new Promise<MonitorProbeReport>((resolve, reject) => {
      worker.onmessage = (event) => resolve(event.data);
      worker.onerror = (event) => {
        event.preventDefault();
        reject(new Error(event.message));
      };
      worker.postMessage({ port: listener.port, diskPath: paths.serviceDir });
    });
    assert.equal(report.host, "ok");
    assert.ok(report.loadAverage, "the load average and the disk are readable");
    assert.equal(report.directConnect, "denied", "the node service cannot reach the server itself");
    assert.deepEqual(
      (report.pushed as Array<{ kind: string }>).map((outcome) => outcome.kind),
      ["sent"],
      JSON.stringify(report.pushed),
    );
    assert.deepEqual(listener.received.map(({ request }) => request.request), ["agent data"]);
  } finally {
    worker.terminate();
    await listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});
