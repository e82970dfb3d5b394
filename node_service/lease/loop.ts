/**
 * The lease loop of a GPU node: every `lease_check_interval_s` (on the
 * injected clock) it follows each renter's instance, asks the verification
 * service about the renter's rental of this machine, and applies what
 * `nextLease` decides: stop and keep an instance whose rental is over,
 * bring it back when renewed within the retention period, delete it with its
 * disks after that. Each step goes to the event log in the same transaction
 * as the lease's new state; a step whose action failed is logged as an error
 * and tried again on the next pass.
 *
 * It acts on instances only through {@link LeaseTargets}, so VMs and
 * containers are handled alike ({@link leaseTargetsFromDrivers} adapts the
 * instance drivers).
 *
 * @example
 * ```ts
 * const loop = new LeaseLoop({ db, events, clock, verification, targets, machineId: nodeId,
 *   intervalMs: 60_000, retentionMs: 10 * 86_400_000, log });
 * loop.start();
 * await loop.stop();
 * ```
 */
import {
  type Clock,
  type DatabaseSync,
  type InstanceKind,
  type InstanceState,
  type LeaseStatus,
  type Logger,
  normalizeAccount,
  silentLogger,
  type TimerHandle,
  transaction,
} from "../../mod/mod.ts";
import type { EventLog } from "../event_log.ts";
import type { InstanceDriver } from "../instances.ts";
import { type LeaseObservation, nextLease } from "./state.ts";
import { LeaseStore } from "./store.ts";
import type { VerificationService } from "../verification/mod.ts";

/** The actor the lease loop's steps are logged under. */
export const LEASE_LOOP_ACTOR = "node";

/** An instance as the lease loop sees it. */
export type LeaseTarget = { id: string; kind: InstanceKind; owner: string; state: InstanceState };

/** The few things the lease loop does to instances, whatever their kind. */
export interface LeaseTargets {
  /** Every instance that is not deleted. */
  list(): Promise<LeaseTarget[]>;
  /** Rental over: stop it and keep it, data and all. */
  expire(target: LeaseTarget): Promise<void>;
  /** Renewed within retention: start it again. */
  renew(target: LeaseTarget): Promise<void>;
  /** Retention over: delete it with its disks. */
  delete(target: LeaseTarget): Promise<void>;
}

/** {@link LeaseTargets} over the VM and container drivers (asked for anew on each use). */
export function leaseTargetsFromDrivers(drivers: () => readonly InstanceDriver[]): LeaseTargets {
  const driverFor = (kind: InstanceKind) => {
    const driver = drivers().find((candidate) => candidate.kind === kind);
    if (!driver) throw new Error(`no driver for ${kind} instances`);
    return driver;
  };
  return {
    list: () =>
      Promise.resolve(
        drivers().flatMap((driver) =>
          driver.summaries().map((summary) => ({
            id: summary.id,
            kind: summary.kind,
            owner: summary.owner,
            state: summary.state,
          }))
        ),
      ),
    expire: async (target) => void await driverFor(target.kind).expire(LEASE_LOOP_ACTOR, target.id),
    renew: async (target) => void await driverFor(target.kind).renew(LEASE_LOOP_ACTOR, target.id),
    delete: async (target) =>
      void await driverFor(target.kind).remove(LEASE_LOOP_ACTOR, target.id, { keepData: false }),
  };
}

export type LeaseLoopOptions = {
  db: DatabaseSync;
  events: EventLog;
  clock: Clock;
  verification: VerificationService;
  targets: LeaseTargets;
  /** This node's machine id in the verification service. */
  machineId: string;
  intervalMs: number;
  retentionMs: number;
  log?: Logger;
};

/** What one pass did, for tests and logs. */
export type LeasePass = {
  tracked: string[];
  expired: string[];
  renewed: string[];
  deleted: string[];
  failed: string[];
  unreachable: boolean;
};

export class LeaseLoop {
  readonly #options: LeaseLoopOptions;
  readonly #store: LeaseStore;
  readonly #log: Logger;
  #timer: TimerHandle | undefined;
  #running: Promise<LeasePass> | undefined;
  #stopped = true;

  constructor(options: LeaseLoopOptions) {
    this.#options = options;
    this.#store = new LeaseStore(options.db);
    this.#log = options.log ?? silentLogger;
  }

  /** Runs a pass now and then every interval until {@link stop}. */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#schedule(0);
  }

  /** Stops scheduling and waits for a pass in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) this.#options.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running?.catch(() => undefined);
  }

  /** One pass over every lease; passes never overlap. */
  pass(): Promise<LeasePass> {
    if (this.#running) return this.#running;
    const running = this.#pass().finally(() => {
      this.#running = undefined;
    });
    this.#running = running;
    return running;
  }

  #schedule(delayMs: number): void {
    this.#timer = this.#options.clock.setTimeout(() => {
      this.#timer = undefined;
      this.pass()
        .catch((error) => this.#log.error("lease pass failed", { error: String(error) }))
        .finally(() => {
          if (!this.#stopped) this.#schedule(this.#options.intervalMs);
        });
    }, delayMs);
  }

  async #pass(): Promise<LeasePass> {
    const { clock, events, targets, verification, machineId, retentionMs } = this.#options;
    const result: LeasePass = {
      tracked: [],
      expired: [],
      renewed: [],
      deleted: [],
      failed: [],
      unreachable: false,
    };
    const instances = new Map((await targets.list()).map((target) => [target.id, target]));

    for (const target of instances.values()) {
      const renter = normalizeAccount(target.owner);
      // Only renters' instances have leases; the operator's own are not the service's business.
      if (!renter || target.state === "deleted") continue;
      const now = clock.now();
      const tracked = transaction(this.#options.db, () => {
        const added = this.#store.track(
          { instanceId: target.id, kind: target.kind, renter, machineId },
          now,
        );
        if (added) {
          events.record({
            actor: LEASE_LOOP_ACTOR,
            action: "lease.track",
            target: target.id,
            result: "ok",
            detail: { kind: target.kind, renter, machine_id: machineId },
          });
        }
        return added;
      });
      if (tracked) result.tracked.push(target.id);
    }

    const answers = new Map<string, Promise<LeaseObservation>>();
    for (const lease of this.#store.open()) {
      const target = instances.get(lease.instanceId);
      if (!target) {
        // Deleted by someone else (the renter, the operator): nothing left to follow.
        const now = clock.now();
        transaction(this.#options.db, () => {
          this.#store.save(lease.instanceId, {
            state: "deleted",
            deletedAt: now,
            rentalId: lease.record.rentalId,
          }, now);
          events.record({
            actor: LEASE_LOOP_ACTOR,
            action: "lease.gone",
            target: lease.instanceId,
            result: "ok",
            detail: { renter: lease.renter },
          });
        });
        continue;
      }
      let answer = answers.get(lease.renter);
      if (!answer) {
        answer = verification.leaseStatus({ machineId: lease.machineId, renter: lease.renter })
          .then(
            (status: LeaseStatus): LeaseObservation => ({ kind: "answer", status }),
            (error): LeaseObservation => ({
              kind: "unreachable",
              reason: String(error?.message ?? error),
            }),
          );
        answers.set(lease.renter, answer);
      }
      const observation = await answer;
      if (observation.kind === "unreachable") {
        result.unreachable = true;
        this.#log.warn("lease check skipped", {
          instance: lease.instanceId,
          reason: observation.reason,
        });
        continue;
      }
      const now = clock.now();
      const step = nextLease(lease.record, observation, now, retentionMs);
      let failure: string | undefined;
      try {
        await this.#act(step.action, target);
      } catch (error) {
        failure = String((error as Error)?.message ?? error);
      }
      const detail = {
        kind: lease.kind,
        renter: lease.renter,
        rental_id: step.next.rentalId,
        why: step.why,
        ...(failure ? { error: failure } : {}),
      };
      transaction(this.#options.db, () => {
        if (failure) {
          events.record({
            actor: LEASE_LOOP_ACTOR,
            action: `lease.${step.action}`,
            target: lease.instanceId,
            result: "error",
            detail,
          });
          return;
        }
        this.#store.save(lease.instanceId, step.next, now);
        if (step.action !== "none") {
          events.record({
            actor: LEASE_LOOP_ACTOR,
            action: `lease.${step.action}`,
            target: lease.instanceId,
            result: "ok",
            detail,
          });
        }
      });
      if (failure) {
        result.failed.push(lease.instanceId);
        this.#log.error("lease step failed", {
          instance: lease.instanceId,
          action: step.action,
          error: failure,
        });
      } else if (step.action === "expire") result.expired.push(lease.instanceId);
      else if (step.action === "renew") result.renewed.push(lease.instanceId);
      else if (step.action === "delete") result.deleted.push(lease.instanceId);
    }
    return result;
  }

  /** Brings the instance to what the step needs; already there is fine (a pass may repeat after a crash). */
  async #act(action: "none" | "expire" | "renew" | "delete", target: LeaseTarget): Promise<void> {
    const { targets } = this.#options;
    switch (action) {
      case "none":
        return;
      case "expire":
        // A failed instance never ran and holds no GPUs: there is nothing to stop.
        if (target.state !== "expired" && target.state !== "failed") await targets.expire(target);
        return;
      case "renew":
        if (target.state === "expired") await targets.renew(target);
        return;
      case "delete":
        await targets.delete(target);
        return;
    }
  }
}
