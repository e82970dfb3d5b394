/**
 * The node service's answers to the `validation.check_*` methods: builds the
 * check VM service over the node's database, the VM service and the
 * verification service, settles what a restart left once the VMs are
 * reconciled, and maps each method to it.
 */
import type { Clock, DatabaseSync, GpuReport, Handlers, Logger, Method } from "../../mod/mod.ts";
import type { EventLog } from "../event_log.ts";
import { readHostFacts } from "../market/mod.ts";
import type { VerificationService } from "../verification/mod.ts";
import type { ImageStore, VmService } from "../vm/mod.ts";
import type { HostCapacity } from "./capacity.ts";
import { CheckVmService } from "./service.ts";

type ValidationMethod = Extract<Method, `validation.${string}`>;
export type ValidationHandlers = Pick<Handlers<"node_service">, ValidationMethod>;

export type CheckVmDeps = {
  db: DatabaseSync;
  events: EventLog;
  vms: VmService;
  images: ImageStore;
  /** Settles once the VM service has reconciled its records with libvirt. */
  vmsReconciled: Promise<void>;
  verification: VerificationService | { missing: string };
  machineId: string;
  /** The volume VM disks go to, for the free-space part of the size check. */
  vmDir: string;
  gpuReport: () => Promise<GpuReport>;
  clock: Clock;
  log: Logger;
};

export type StartedCheckVms = {
  handlers: ValidationHandlers;
  service: CheckVmService;
  /** Settles once start-up clean-up is over (it never rejects; failures are logged). */
  started: Promise<void>;
  stop(): Promise<void>;
};

/** What the host has now: its CPUs, memory, free VM disk space and passable GPUs. */
export async function hostCapacity(
  vmDir: string,
  gpuReport: () => Promise<GpuReport>,
): Promise<HostCapacity> {
  const [facts, report] = await Promise.all([readHostFacts([vmDir]), gpuReport()]);
  return {
    cpuCores: facts.cpuCores,
    memoryTotalMib: facts.memoryTotalMib,
    diskFreeGib: facts.disk?.freeGib ?? null,
    gpus: report.state === "present"
      ? { count: report.gpus.length }
      : { count: 0, reason: report.reason },
  };
}

export function startCheckVms(deps: CheckVmDeps): StartedCheckVms {
  const service = new CheckVmService({
    db: deps.db,
    events: deps.events,
    vms: deps.vms,
    images: deps.images,
    verification: deps.verification,
    machineId: deps.machineId,
    capacity: () => hostCapacity(deps.vmDir, deps.gpuReport),
    clock: deps.clock,
    log: deps.log,
  });
  const started = deps.vmsReconciled.then(() => service.start()).catch((error) =>
    deps.log.error("cannot settle check VMs at start", { error: String(error?.message ?? error) })
  );
  const handlers: ValidationHandlers = {
    "validation.check_create": (params) =>
      service.create({
        validator: params.validator,
        image: params.image,
        direct_boot: params.direct_boot === undefined ? undefined : {
          ...params.direct_boot,
          cmdline: params.direct_boot.cmdline ?? "",
        },
      }),
    "validation.check_wait": (params) => service.wait(params.validator, params.check_id),
    "validation.check_get": (params) => service.get(params.validator, params.check_id),
    "validation.check_list": (params) => ({ checks: service.list(params.validator) }),
    "validation.check_delete": (params) => service.delete(params.validator, params.check_id),
  };
  return {
    handlers,
    service,
    started,
    async stop() {
      await started;
      await service.stop();
    },
  };
}
