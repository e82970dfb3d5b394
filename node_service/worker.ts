/**
 * The node-service worker: GPU inventory, the event log, and (in later
 * issues) VMs, containers and leases. Runs with permission to execute only
 * virsh, nvidia-smi and qemu-img and to touch only its own directory.
 */
import {
  chainRpcHosts,
  ledgerPlace,
  machineIdOf,
  openDatabase,
  runWorker,
  vmStorageDirs,
} from "../mod/mod.ts";
import { startContainers } from "./container/mod.ts";
import { eventHandlers, EventLog } from "./event_log.ts";
import { GpuInventory } from "./gpu/mod.ts";
import { DEFAULT_HOST_CHECK_MAX_AGE_MS, HostChecker } from "./host/mod.ts";
import { SERVICE_MIGRATIONS } from "./migrations.ts";
import { startVms } from "./vm/mod.ts";
import { networkLedgerTransport, serveLedgerRpc, startLedger } from "./ledger/mod.ts";
import { startMachine } from "./machine/mod.ts";
import {
  leaseCheckHandlers,
  startLeases,
  verificationMachineId,
  verificationServiceFor,
} from "./lease/mod.ts";
import { machineIdFor, startMarket } from "./market/mod.ts";
import { sessionHandlers, SessionStore } from "./sessions.ts";
import { usedNonceHandlers } from "./used_nonces.ts";
import { startCheckVms } from "./validation/mod.ts";
import { ServiceMetrics } from "./metrics/mod.ts";
import { MonitorStore, startMonitor } from "./monitor/mod.ts";
import { startImageServers } from "./image_servers/mod.ts";
import { startLans } from "./lan/mod.ts";
import { VmStore } from "./vm/mod.ts";

/** How stale a GPU inventory may be when the caller does not say. */
const DEFAULT_GPU_MAX_AGE_MS = 5_000;

runWorker("node_service", ({ init, log, clock, call }) => {
  const db = openDatabase(init.paths.serviceDb, SERVICE_MIGRATIONS, { now: () => clock.now() });
  const metrics = new ServiceMetrics(db);
  const events = new EventLog(db, () => clock.now(), (event, ms) => metrics.observe(event, ms));
  const gpus = new GpuInventory(() => clock.now());
  events.record({
    actor: "node",
    action: "node_service.start",
    target: init.node_id,
    result: "ok",
    detail: { role: init.config.role },
  });
  const containers = startContainers({
    config: init.config,
    paths: init.paths,
    nodeId: init.node_id,
    db,
    events,
    gpuReport: () => gpus.report(DEFAULT_GPU_MAX_AGE_MS),
    clock,
    log,
  });
  const storage = vmStorageDirs(init.config, init.paths);
  const host = new HostChecker({
    libvirtUri: init.config.libvirt_uri,
    domainType: init.config.vm_domain_type,
    vmDir: storage.vmDir,
    imageDir: storage.imageDir,
    engineStatus: () => containers.service.engineStatus(init.config.docker_socket),
    engineSocket: init.config.docker_socket,
    now: () => clock.now(),
    log: log.child("host"),
  });
  // Renters' private networks: the VMs on one are those whose records name it.
  const vmRecords = new VmStore(db, () => clock.now());
  const lans = startLans({
    config: init.config,
    paths: init.paths,
    db,
    events,
    members: (lanId) => vmRecords.membersOfLan(lanId),
    lastUse: (lanId) => vmRecords.lastUseOfLan(lanId),
    now: () => clock.now(),
    log: log.child("lan"),
  });
  const vms = startVms({
    config: init.config,
    paths: init.paths,
    db,
    events,
    gpuReport: () => gpus.report(DEFAULT_GPU_MAX_AGE_MS),
    hostRefusal: () => host.vmCreateRefusal(),
    lanAttachment: (owner, name) => lans.service.attachment(owner, name),
    clock,
    log,
  });
  // After startVms, which makes the VM and image directories. Not awaited: nothing waits on it.
  host.logAtStart({ problemsAtWarn: init.config.role === "gpu" }).catch((error) =>
    log.error("cannot check the host", { error: (error as Error).message })
  );
  const ledger = startLedger({
    config: init.config,
    paths: init.paths,
    events,
    clock,
    log,
    nodeId: init.node_id,
  });
  // The ledger authority answers other nodes' ledger reads; every other node asks only it.
  const ledgerPlaceHere = ledgerPlace(init.config, init.node_id);
  if (ledgerPlaceHere.kind === "unset" && init.config.verification_service === "ledger") {
    log.warn("no ledger authority: ledger reads and lease checks are refused", {
      reason: ledgerPlaceHere.reason,
    });
  }
  if (
    ledger.ledger && init.config.ledger_authority === "" && init.config.seeds.length > 0
  ) {
    // A seed that joins others yet names no authority keeps a ledger nobody else reads.
    log.warn("this seed keeps a ledger of its own while it joins other seeds", {
      fix: "give every node of the network the same ledger_authority (the ledger seed's node id)",
      seeds: init.config.seeds.length,
    });
  }
  // Counted once here, for writes through either door (the HTTP API, the network's ledger.rpc).
  const ledgerHandlers = ledger.ledger
    ? metrics.countLedgerWrites(ledger.handlers)
    : ledger.handlers;
  const ledgerServer = ledger.ledger
    ? serveLedgerRpc({ call, clock, log: log.child("ledger_rpc"), handlers: ledgerHandlers })
    : undefined;
  const ledgerTransport = ledger.ledger ? undefined : networkLedgerTransport({
    call,
    log: log.child("ledger_rpc"),
    authority: ledgerPlaceHere.kind === "authority" ? ledgerPlaceHere.authority : undefined,
    unsetReason: ledgerPlaceHere.kind === "unset" ? ledgerPlaceHere.reason : undefined,
  });
  const leases = startLeases({
    config: init.config,
    nodeId: init.node_id,
    db,
    events,
    clock,
    log,
    ledger: ledger.ledger,
    ledgerTransport,
    // The instance drivers (VMs, containers) the lease loop acts on join here.
    drivers: () => [vms.service, containers.service],
  });
  // For lease.check and the machine state in announcements (the lease loop keeps its own).
  const verification = verificationServiceFor({
    config: init.config,
    ledger: ledger.ledger,
    ledgerTransport,
  });
  const market = startMarket({
    config: init.config,
    nodeId: init.node_id,
    call,
    clock,
    log: log.child("market"),
    gpuReport: () => gpus.report(DEFAULT_GPU_MAX_AGE_MS),
    verification: "missing" in verification ? undefined : verification,
    diskPaths: [storage.vmDir, init.paths.serviceDir],
  });
  const machine = startMachine({
    config: init.config,
    nodeId: init.node_id,
    call,
    clock,
    log: log.child("machine"),
    gpuReport: () => gpus.report(DEFAULT_GPU_MAX_AGE_MS),
    diskPaths: [storage.vmDir, init.paths.serviceDir],
    ledgerTransport,
  });
  // Validators' check VMs, decided on the ledger's word through the same verification service.
  const checks = startCheckVms({
    db,
    events,
    vms: vms.service,
    images: vms.images,
    vmsReconciled: vms.reconciled,
    verification,
    machineId: machineIdFor(init.config, init.node_id),
    vmDir: storage.vmDir,
    gpuReport: () => gpus.report(DEFAULT_GPU_MAX_AGE_MS),
    clock,
    log: log.child("checks"),
  });
  // The lease check answers the HTTP API and tells the monitoring pushes who rents the machine.
  const leaseChecks = leaseCheckHandlers(verification, clock, {
    nodeId: init.node_id,
    as: verificationMachineId(init.config, init.node_id),
  });
  const monitor = startMonitor({
    config: init.config,
    machineId: machineIdOf(init.config, init.node_id),
    store: new MonitorStore(db, () => clock.now()),
    events,
    clock,
    log: log.child("monitor"),
    vms: () => vms.service.summaries(),
    gpuReport: () => gpus.report(DEFAULT_GPU_MAX_AGE_MS),
    renting: async (account) =>
      (await leaseChecks["lease.check"](
        { account, machine_id: init.node_id },
        { from: "node_service" },
      )).renting,
    deniedHosts: chainRpcHosts(init.config),
    diskPath: storage.vmDir,
  });
  // Downloads from and uploads to the operator's image servers, each request in a process of its own.
  const imageServers = startImageServers({
    config: init.config,
    db,
    images: vms.images,
    vms: vms.service,
    vmDir: storage.vmDir,
    events,
    now: () => clock.now(),
    log: log.child("image_servers"),
  });
  log.info("node service ready", { database: init.paths.serviceDb });
  return {
    handlers: {
      "gpu.inventory": (params) => gpus.report(params.max_age_ms ?? DEFAULT_GPU_MAX_AGE_MS),
      "host.checks": (params) => host.report(params.max_age_ms ?? DEFAULT_HOST_CHECK_MAX_AGE_MS),
      ...containers.handlers,
      ...vms.handlers,
      ...ledgerHandlers,
      ...market.handlers,
      ...machine.handlers,
      ...leaseChecks,
      ...monitor.handlers,
      ...imageServers.handlers,
      ...lans.handlers,
      ...eventHandlers(events),
      ...sessionHandlers(new SessionStore(db, () => clock.now()), events),
      ...usedNonceHandlers(db, () => clock.now()),
      ...checks.handlers,
      "metrics.node_service": () => metrics.collect(),
    },
    async stop() {
      await machine.stop();
      await market.stop();
      await ledgerServer?.stop();
      if (!("missing" in verification)) verification.close();
      await leases.stop();
      await checks.stop();
      await monitor.stop();
      await imageServers.stop();
      ledger.stop();
      containers.stop();
      await vms.stop();
      events.record({
        actor: "node",
        action: "node_service.stop",
        target: init.node_id,
        result: "ok",
      });
      db.close();
    },
  };
});
