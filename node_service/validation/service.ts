/**
 * Validators' check VMs on this GPU node: made on a validator's request while
 * the ledger says the machine awaits validation and the validator is in one
 * of its slots (decision.ts), sized as the owner declared (capacity.ts),
 * booted with the check script as user-data (check_script.ts), read back
 * from the console (console_facts.ts), and deleted by the validator or, at
 * the latest, when the slot ends: a timer on the node's clock, set again at
 * start-up, when whatever outlived its slot during a restart goes at once.
 *
 * The decision and the record are made before `create` answers, so a refusal
 * is immediate; the VM itself is made in the background (`wait` follows it).
 * Every action goes to the event log: the validator's under its account, the
 * node's own (a slot's end) under `node` with the validator in the detail.
 *
 * A check VM is an ordinary VM of the VM service with an owner that is not
 * an account (`validator:<account>`): the lease loop follows only renters'
 * instances, so it never stops or deletes one for want of a rental, and no
 * renter route shows it to anyone.
 */
import {
  type CheckFacts,
  type CheckVm,
  type CheckVmDetail,
  type Clock,
  type DatabaseSync,
  type Logger,
  type Machine,
  normalizeAccount,
  RpcError,
  silentLogger,
  type TimerHandle,
  VmCreateParamsSchema,
  type VmCreateRequest,
} from "../../mod/mod.ts";
import type { EventLog } from "../event_log.ts";
import type { VerificationService } from "../verification/mod.ts";
import { type ImageStore, toRpcError, type VmService } from "../vm/mod.ts";
import { capacityRefusal, type HostCapacity } from "./capacity.ts";
import { CHECK_SCRIPT } from "./check_script.ts";
import { parseCheckConsole } from "./console_facts.ts";
import { CHECK_ID_PREFIX, CHECK_VM_OWNER_PREFIX, EXPIRE_RETRY_MS } from "./constants.ts";
import { checkDecision } from "./decision.ts";
import { type CheckRecord, CheckVmStore } from "./store.ts";

/** The actor of what the node does to a check VM by itself. */
const NODE_ACTOR = "node";
const GIB = 2 ** 30;
/** Console lines asked of the VM service for one look (it reads at most 256 KiB). */
const CONSOLE_LINES = 20_000;

export type CheckVmServiceOptions = {
  db: DatabaseSync;
  events: EventLog;
  vms: VmService;
  images: ImageStore;
  /** Where the ledger is read; under `substrate`, the chain's OnlineCommittee round. */
  verification: VerificationService | { missing: string };
  /** This node's machine id in the ledger. */
  machineId: string;
  /** What the host has now, for the size check. */
  capacity: () => Promise<HostCapacity>;
  clock: Clock;
  log?: Logger;
};

type DirectBoot = NonNullable<VmCreateRequest["direct_boot"]>;

export type CheckCreate = { validator: string; image: string; direct_boot?: DirectBoot };

/** The VM owner a validator's check VMs are recorded under. */
export function checkVmOwner(validator: string): string {
  return `${CHECK_VM_OWNER_PREFIX}${validator}`;
}

export class CheckVmService {
  readonly store: CheckVmStore;
  readonly #options: CheckVmServiceOptions;
  readonly #log: Logger;
  /** Creates under way, by check id. */
  readonly #making = new Map<string, Promise<void>>();
  /** Slot-end timers, by check id. */
  readonly #timers = new Map<string, TimerHandle>();
  /** Deletions under way (a timer and the validator may meet). */
  readonly #removing = new Map<string, Promise<CheckRecord>>();
  #stopped = false;

  constructor(options: CheckVmServiceOptions) {
    this.#options = options;
    this.#log = options.log ?? silentLogger;
    this.store = new CheckVmStore(options.db, () => options.clock.now());
  }

  /**
   * At start-up, once the VM service has reconciled its records with
   * libvirt: deletes what outlived its slot, closes checks whose VM a
   * restart cut short or someone else deleted, and sets the other timers.
   */
  async start(): Promise<void> {
    for (const record of this.store.live()) {
      const vm = this.#options.vms.store.get(record.id);
      if (record.slot.ends_at <= this.#options.clock.now()) {
        await this.#expire(record.id);
      } else if (!vm || vm.state === "failed" || vm.state === "creating") {
        // Should its VM not go now, its slot's end takes it.
        await this.#remove(record.id, NODE_ACTOR, "create_failed", "a node restart cut it short")
          .catch(() => this.#schedule(record));
      } else if (vm.state === "deleted") {
        this.#closeGone(record);
      } else {
        this.#schedule(record);
      }
    }
  }

  /**
   * Stops the timers and waits for deletions under way. A create under way is not waited for
   * (it may take minutes): the next start settles it.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const timer of this.#timers.values()) this.#options.clock.clearTimeout(timer);
    this.#timers.clear();
    await Promise.allSettled([...this.#removing.values()]);
  }

  /**
   * Decides (the ledger's word, now), records and answers; the VM is made in
   * the background. Refused with `forbidden`/`conflict` (no order, outside a
   * slot, reported, a live one already), `not_found` (image), `unavailable`
   * (the ledger cannot be read).
   */
  async create(request: CheckCreate): Promise<CheckVm> {
    const validator = normalizeAccount(request.validator) ?? request.validator;
    const { events, machineId, clock } = this.#options;
    const asked = { image: request.image, direct_boot: request.direct_boot !== undefined };
    try {
      const machine = await this.#machine();
      const decision = checkDecision({
        machine,
        machineId,
        validator,
        now: clock.now(),
        live: this.store.live()
          .filter((check) => check.validator === validator && check.machineId === machineId)
          .map((check) => ({ checkId: check.id, round: check.round })),
      });
      if (!decision.allowed) throw new RpcError(decision.code, decision.reason);
      this.#requireImages(validator, request, decision.size.disk_gib);
      // Nothing awaits from the decision to the record, so two creates cannot both pass it.
      const record = this.store.insert({
        id: newCheckId(),
        validator,
        machineId,
        round: decision.round,
        slot: decision.slot,
        size: decision.size,
        image: request.image,
      });
      events.record({
        actor: validator,
        action: "validation.check_create",
        target: record.id,
        result: "ok",
        detail: { ...asked, round: record.round, slot: record.slot, size: record.size },
      });
      this.#schedule(record);
      const making = this.#make(record, request.direct_boot);
      this.#making.set(record.id, making);
      making.catch(() => {}).finally(() => this.#making.delete(record.id));
      return this.#view(this.store.get(record.id)!);
    } catch (error) {
      const typed = toRpcError(error);
      events.record({
        actor: validator,
        action: "validation.check_create",
        target: machineId,
        result: "error",
        detail: { ...asked, code: typed.code, error: typed.message },
      });
      throw typed;
    }
  }

  /** Resolves once the check VM runs; rejects with why it could not be made. */
  async wait(validator: string, id: string): Promise<CheckVm> {
    const record = this.#own(validator, id);
    const making = this.#making.get(record.id);
    if (making) await making;
    const now = this.#own(validator, id);
    if (now.status.state === "deleted" && now.status.reason === "create_failed") {
      throw new RpcError("conflict", `check VM ${id} could not be made: ${now.status.error}`);
    }
    return this.#view(now);
  }

  /** The check and what its guest reported so far. */
  async get(validator: string, id: string): Promise<CheckVmDetail> {
    let record = this.#own(validator, id);
    if (record.status.state === "live" && !this.#making.has(record.id)) {
      const vm = this.#options.vms.store.get(record.id);
      if (!vm || vm.state === "deleted") record = this.#closeGone(record);
    }
    const facts = record.status.state === "live" ? await this.#facts(record.id) : null;
    return { check: this.#view(record), facts };
  }

  /** The validator's checks on this node, newest first. */
  list(validator: string): CheckVm[] {
    const account = normalizeAccount(validator) ?? validator;
    return this.store.listFor(account).map((record) => this.#view(record));
  }

  /** Deletes the check VM (after a create under way, which it waits for). */
  async delete(validator: string, id: string): Promise<CheckVm> {
    const record = this.#own(validator, id);
    if (record.status.state === "deleted") return this.#view(record);
    return this.#view(await this.#remove(record.id, record.validator, "validator"));
  }

  async #machine(): Promise<Machine> {
    const { verification, machineId } = this.#options;
    if ("missing" in verification) {
      throw new RpcError("unavailable", `cannot read the ledger: ${verification.missing}`);
    }
    try {
      return await verification.machine(machineId);
    } catch (error) {
      if (error instanceof RpcError) {
        if (error.code !== "not_found") throw error;
        throw new RpcError("not_found", `machine ${machineId} is not in the ledger`);
      }
      throw new RpcError(
        "unavailable",
        `the ledger did not answer about machine ${machineId}: ${(error as Error)?.message}`,
      );
    }
  }

  /** The images must be there and fit the disk: a validator's mistake is no fault of the machine. */
  #requireImages(validator: string, request: CheckCreate, diskGib: number): void {
    const { images } = this.#options;
    const owner = checkVmOwner(validator);
    const base = images.readyImageFor(owner, request.image);
    if (base.virtualSizeBytes > diskGib * GIB) {
      throw new RpcError(
        "invalid_params",
        `image ${request.image} (${base.virtualSizeBytes} bytes) is larger than the declared disk (${diskGib} GiB)`,
      );
    }
    if (request.direct_boot) {
      images.readyImageFor(owner, request.direct_boot.kernel_image);
      if (request.direct_boot.initrd_image !== undefined) {
        images.readyImageFor(owner, request.direct_boot.initrd_image);
      }
    }
  }

  /** Makes the VM; on failure nothing of it stays and the check is closed with the reason. */
  async #make(record: CheckRecord, directBoot: DirectBoot | undefined): Promise<void> {
    const { vms, events } = this.#options;
    try {
      const refusal = capacityRefusal(record.size, await this.#options.capacity());
      if (refusal) throw new RpcError("conflict", refusal);
      const vm = await vms.create(VmCreateParamsSchema.parse({
        actor: record.validator,
        owner: checkVmOwner(record.validator),
        id: record.id,
        image: record.image,
        cpu_cores: record.size.cpu_cores,
        memory_mib: record.size.memory_gib * 1024,
        disk_gib: record.size.disk_gib,
        gpus: { count: record.size.gpu_count },
        direct_boot: directBoot,
        guest_script: CHECK_SCRIPT,
      }));
      events.record({
        actor: record.validator,
        action: "validation.check_made",
        target: record.id,
        result: "ok",
        detail: { vm_state: vm.state, gpus: vm.gpus.length },
      });
    } catch (error) {
      const typed = toRpcError(error);
      // The VM service keeps a failed create's record; it goes with the check.
      if (vms.store.get(record.id)?.state === "failed") {
        await vms.delete(record.validator, record.id).catch((cause) =>
          this.#log.warn("cannot delete a failed check VM", { id: record.id, error: String(cause) })
        );
      }
      this.#unschedule(record.id);
      this.store.markDeleted(record.id, "create_failed", typed.message);
      events.record({
        actor: record.validator,
        action: "validation.check_made",
        target: record.id,
        result: "error",
        detail: { code: typed.code, error: typed.message },
      });
      throw typed;
    }
  }

  /** Deletes the VM and closes the check; one deletion at a time per check. */
  #remove(
    id: string,
    actor: string,
    reason: "validator" | "slot_ended" | "create_failed",
    error: string | null = null,
  ): Promise<CheckRecord> {
    const under = this.#removing.get(id);
    if (under) return under;
    const removal = (async () => {
      await this.#making.get(id)?.catch(() => {});
      const record = this.store.get(id)!;
      if (record.status.state === "deleted") return record;
      const { vms, events } = this.#options;
      const detail: Record<string, unknown> = { validator: record.validator, reason };
      try {
        const vm = vms.store.get(id);
        if (vm && vm.state !== "deleted") await vms.delete(actor, id);
        else detail.vm = "already gone";
      } catch (cause) {
        const typed = toRpcError(cause);
        events.record({
          actor,
          action: "validation.check_delete",
          target: id,
          result: "error",
          detail: { ...detail, code: typed.code, error: typed.message },
        });
        throw typed;
      }
      this.#unschedule(id);
      const closed = this.store.markDeleted(id, reason, error);
      events.record({ actor, action: "validation.check_delete", target: id, result: "ok", detail });
      return closed;
    })();
    this.#removing.set(id, removal);
    return removal.finally(() => this.#removing.delete(id));
  }

  /** The slot is over: the VM goes, whatever its state; a failure is tried again later. */
  async #expire(id: string): Promise<void> {
    try {
      await this.#remove(id, NODE_ACTOR, "slot_ended");
    } catch (error) {
      this.#log.error("cannot delete a check VM whose slot ended", {
        id,
        error: String((error as Error)?.message ?? error),
      });
      if (!this.#stopped) {
        this.#timers.set(
          id,
          this.#options.clock.setTimeout(() => void this.#expire(id), EXPIRE_RETRY_MS),
        );
      }
    }
  }

  #schedule(record: CheckRecord): void {
    this.#unschedule(record.id);
    if (this.#stopped) return;
    const delay = Math.max(0, record.slot.ends_at - this.#options.clock.now());
    this.#timers.set(
      record.id,
      this.#options.clock.setTimeout(() => {
        this.#timers.delete(record.id);
        void this.#expire(record.id);
      }, delay),
    );
  }

  #unschedule(id: string): void {
    const timer = this.#timers.get(id);
    if (timer) this.#options.clock.clearTimeout(timer);
    this.#timers.delete(id);
  }

  /** Someone else deleted the VM: the check is over. */
  #closeGone(record: CheckRecord): CheckRecord {
    this.#unschedule(record.id);
    const closed = this.store.markDeleted(record.id, "vm_gone");
    this.#options.events.record({
      actor: NODE_ACTOR,
      action: "validation.check_gone",
      target: record.id,
      result: "ok",
      detail: { validator: record.validator },
    });
    return closed;
  }

  /** What the guest printed of the check script; the head of the log first, then its tail. */
  async #facts(id: string): Promise<CheckFacts> {
    const { vms } = this.#options;
    try {
      const head = await vms.logs(id, "head", CONSOLE_LINES);
      const facts = parseCheckConsole(head.lines);
      if (facts.state === "ready" || !head.truncated) return facts;
      return parseCheckConsole((await vms.logs(id, "tail", CONSOLE_LINES)).lines);
    } catch {
      // No record or no log yet: nothing printed so far.
      return { state: "booting" };
    }
  }

  /** The check of `validator` named `id`; anyone else's is not there for it. */
  #own(validator: string, id: string): CheckRecord {
    const record = this.store.get(id);
    const account = normalizeAccount(validator) ?? validator;
    if (!record || record.validator !== account) {
      throw new RpcError("not_found", `no check VM ${id} of yours on this node`);
    }
    return record;
  }

  #view(record: CheckRecord): CheckVm {
    const base = {
      check_id: record.id,
      validator: record.validator,
      machine_id: record.machineId,
      round: record.round,
      slot: record.slot,
      size: record.size,
      image: record.image,
      created_at: record.createdAt,
      updated_at: record.updatedAt,
    };
    if (record.status.state === "deleted") {
      return {
        ...base,
        state: "deleted",
        reason: record.status.reason,
        deleted_at: record.status.at,
        error: record.status.error,
      };
    }
    return {
      ...base,
      state: "live",
      vm_state: this.#options.vms.store.get(record.id)?.state ?? "creating",
    };
  }
}

function newCheckId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return `${CHECK_ID_PREFIX}${
    [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("")
  }`;
}
