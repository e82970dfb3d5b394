/**
 * The embedded ledger: the record a seed keeps of machines, their onboarding
 * by validators, rentals and multisig accounts, in its own SQLite file. The
 * rules live in pure functions (`machine_state.ts`, `validation.ts`,
 * `billing.ts`); this class applies them to rows, one transaction per call.
 *
 * Time-driven changes (a round's window passing, a rental reaching its end)
 * are applied at the start of every call ("settling"), so what a caller reads
 * is always current without a timer of its own.
 *
 * Every write names who signed it ({@link SignedBy}, checked by
 * `mod/wallet/auth.ts` where the request came in); the (account, nonce) pair
 * is recorded in the same transaction, so a replay is refused even after a
 * restart, and a refused write uses up nothing.
 *
 * @example
 * ```ts
 * const ledger = Ledger.open("data/node_service/ledger.db", { now: Date.now, verificationWindowMs, validators: [], renewalGraceMs });
 * ledger.registerMachine(signedBy, { machine_id, config, prices });
 * ```
 */
import {
  type AccountBalance,
  type AccountEntry,
  checkNodeStatement,
  type DatabaseSync,
  type LeaseStatus,
  type Machine,
  type MachineConfig,
  type MachineStatus,
  type MultisigAccount,
  multisigAccount,
  type NodeProof,
  normalizeAccount,
  openDatabase,
  type Rental,
  type RentalPayment,
  type RentPrices,
  type RentUnit,
  RpcError,
  type SignedBy,
  transaction,
  type ValidatorOrder,
  type ValidatorReport,
} from "../../mod/mod.ts";
import { addAmounts, billPeriod, priceFor, subtractAmount } from "./billing.ts";
import { effectiveEndsAt, isSilent, type Outage, outageCredit } from "./liveness.ts";
import { MAX_RENTAL_AHEAD_MS, MAX_VALIDATORS_PER_MACHINE } from "./constants.ts";
import { type MachineEvent, type MachineState, nextMachineState } from "./machine_state.ts";
import { LEDGER_MIGRATIONS } from "./migrations.ts";
import { claimNonce } from "../used_nonces.ts";
import { configMismatches, decideRound, inSlot, validatorSlots } from "./validation.ts";

export type LedgerOptions = {
  now: () => number;
  /** How long one validation round lasts; cut into 9 slots. */
  verificationWindowMs: number;
  /** Wallets allowed to validate; empty: any wallet but the machine's owner. */
  validators: readonly string[];
  /** How long after its end a rental may still be renewed (GPU nodes keep the instance that long). */
  renewalGraceMs: number;
  /** Wallets that may fund accounts (`ledger_admins`); empty: nobody can. */
  admins?: readonly string[];
  /**
   * A machine silent this long is down, and its renter is not billed for the
   * time (see `liveness.ts`); absent or 0: the ledger does not watch heartbeats.
   */
  heartbeatTimeoutMs?: number;
};

/** How many of an account's latest balance changes a read shows. */
const ACCOUNT_ENTRIES_SHOWN = 50;

type MachineRow = {
  machine_id: string;
  owner: string;
  config: string;
  prices: string;
  status: MachineStatus;
  status_since: number;
  failure_reason: string | null;
  rental_id: number | null;
  round: number;
  round_started_at: number | null;
  registered_at: number;
  last_seen_at: number | null;
  last_heartbeat_signed_at: number | null;
  down_since: number | null;
};

type OrderRow = {
  validator: string;
  position: number;
  grabbed_at: number;
  report: string | null;
  reported_at: number | null;
  confirms: number | null;
  mismatches: string;
};

type RentalRow = {
  rental_id: number;
  machine_id: string;
  renter: string;
  starts_at: number;
  ends_at: number;
  state: "active" | "ended";
  total_amount: string;
};

export class Ledger {
  readonly #db: DatabaseSync;
  readonly #options: LedgerOptions;
  readonly #validators: ReadonlySet<string>;
  readonly #admins: ReadonlySet<string>;

  constructor(db: DatabaseSync, options: LedgerOptions) {
    this.#db = db;
    this.#options = options;
    this.#validators = new Set(options.validators.map((wallet) => account(wallet)));
    this.#admins = new Set((options.admins ?? []).map((wallet) => account(wallet)));
  }

  /** Opens (creating or migrating) the ledger database at `path`. */
  static open(path: string, options: LedgerOptions): Ledger {
    return new Ledger(openDatabase(path, LEDGER_MIGRATIONS, { now: options.now }), options);
  }

  close(): void {
    this.#db.close();
  }

  // -------------------------------------------------------------------------
  // Machines and onboarding

  /**
   * A new machine (unverified), or a failed one submitted again by its owner.
   * Both must agree: the owner signs the request, and the machine itself signs
   * (`node_proof`, by the node key its id carries) that this owner, this
   * configuration and these prices are its own, so nobody registers or
   * squats a node that is not theirs.
   */
  registerMachine(
    signedBy: SignedBy,
    input: { machine_id: string; config: MachineConfig; prices: RentPrices; node_proof: NodeProof },
  ): Machine {
    return this.#write(signedBy, (now, owner) => {
      const proof = checkNodeStatement(
        {
          kind: "machine_registration",
          machine_id: input.machine_id,
          owner,
          config: input.config,
          prices: input.prices,
          signed_at: input.node_proof.signed_at,
        },
        input.node_proof.signature,
        now,
      );
      if (!proof.ok) {
        throw new RpcError(
          "forbidden",
          `machine ${input.machine_id} did not agree to this registration: ${proof.reason}`,
        );
      }
      const existing = this.#machineRow(input.machine_id);
      if (!existing) {
        this.#db.prepare(
          `INSERT INTO machines (machine_id, owner, config, prices, status, status_since, round,
            registered_at, updated_at, last_seen_at) VALUES (?, ?, ?, ?, 'unverified', ?, 1, ?, ?, ?)`,
        ).run(
          input.machine_id,
          owner,
          JSON.stringify(input.config),
          JSON.stringify(input.prices),
          now,
          now,
          now,
          now,
        );
        return this.#machine(input.machine_id);
      }
      if (existing.owner !== owner) {
        throw new RpcError("forbidden", `machine ${input.machine_id} belongs to another owner`);
      }
      const next = this.#transition(existing, { type: "resubmitted" }, now);
      this.#db.prepare(
        `UPDATE machines SET config = ?, prices = ?, status = ?, status_since = ?,
          failure_reason = NULL, round = round + 1, round_started_at = NULL, updated_at = ?,
          last_seen_at = ?, down_since = NULL WHERE machine_id = ?`,
      ).run(
        JSON.stringify(input.config),
        JSON.stringify(input.prices),
        next.status,
        next.since,
        now,
        now,
        input.machine_id,
      );
      return this.#machine(input.machine_id);
    });
  }

  getMachine(machineId: string): Machine {
    return this.#read(() => this.#machine(machineId));
  }

  listMachines(filter: { status?: MachineStatus; owner?: string } = {}): Machine[] {
    return this.#read(() => {
      const where: string[] = [];
      const args: string[] = [];
      if (filter.status) where.push("status = ?"), args.push(filter.status);
      if (filter.owner) where.push("owner = ?"), args.push(account(filter.owner));
      const rows = this.#db.prepare(
        `SELECT machine_id FROM machines ${
          where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""
        } ORDER BY machine_id`,
      ).all(...args) as Array<{ machine_id: string }>;
      return rows.map((row) => this.#machine(row.machine_id));
    });
  }

  /**
   * A machine's "I am alive", signed by its node key. Each must be newer than
   * the last, so a relayed copy cannot keep a dead machine up. A heartbeat
   * that ends an outage credits the machine's rental with the time it was down.
   */
  heartbeat(input: { machine_id: string; signed_at: number; signature: string }): {
    machine_id: string;
    status: MachineStatus;
    last_seen_at: number;
    recovered: { down_since: number; up_at: number } | null;
  } {
    return transaction(this.#db, () => {
      const now = this.#options.now();
      this.#settle(now);
      const check = checkNodeStatement(
        { kind: "machine_heartbeat", machine_id: input.machine_id, signed_at: input.signed_at },
        input.signature,
        now,
      );
      if (!check.ok) throw new RpcError("forbidden", `heartbeat refused: ${check.reason}`);
      const machine = this.#machineRowOrThrow(input.machine_id);
      if (
        machine.last_heartbeat_signed_at !== null &&
        input.signed_at <= machine.last_heartbeat_signed_at
      ) {
        throw new RpcError(
          "conflict",
          `heartbeat refused: not newer than the last one of machine ${input.machine_id}`,
        );
      }
      let recovered: { down_since: number; up_at: number } | null = null;
      if (machine.down_since !== null) {
        recovered = { down_since: machine.down_since, up_at: now };
        const open = this.#db.prepare(
          `SELECT o.rental_id, o.down_since FROM rental_outages o
            JOIN rentals r ON r.rental_id = o.rental_id
            WHERE r.machine_id = ? AND o.up_at IS NULL`,
        ).all(input.machine_id) as Array<{ rental_id: number; down_since: number }>;
        for (const outage of open) {
          const credit = outageCredit({ down_since: outage.down_since, up_at: now }, now);
          this.#db.prepare(
            "UPDATE rental_outages SET up_at = ? WHERE rental_id = ? AND down_since = ?",
          ).run(now, outage.rental_id, outage.down_since);
          this.#db.prepare(
            "UPDATE rentals SET ends_at = ends_at + ?, updated_at = ? WHERE rental_id = ?",
          ).run(credit, now, outage.rental_id);
        }
      }
      this.#db.prepare(
        `UPDATE machines SET last_seen_at = ?, last_heartbeat_signed_at = ?, down_since = NULL
          WHERE machine_id = ?`,
      ).run(now, input.signed_at, input.machine_id);
      return {
        machine_id: input.machine_id,
        status: machine.status,
        last_seen_at: now,
        recovered,
      };
    });
  }

  /** A validator takes the order to check a machine; the first grab starts the round. */
  grabOrder(signedBy: SignedBy, machineId: string): Machine {
    return this.#write(signedBy, (now, validator) => {
      const machine = this.#machineRowOrThrow(machineId);
      if (this.#validators.size > 0 && !this.#validators.has(validator)) {
        throw new RpcError("forbidden", `${validator} is not one of this ledger's validators`);
      }
      if (validator === machine.owner) {
        throw new RpcError("forbidden", "an owner cannot validate its own machine");
      }
      if (machine.status !== "unverified" && machine.status !== "verifying") {
        throw new RpcError(
          "conflict",
          `machine ${machineId} is ${machine.status}, not awaiting validation`,
        );
      }
      const orders = this.#orderRows(machineId, machine.round);
      if (orders.some((order) => order.validator === validator)) {
        throw new RpcError("conflict", `${validator} already holds this machine's order`);
      }
      if (orders.length >= MAX_VALIDATORS_PER_MACHINE) {
        throw new RpcError(
          "conflict",
          `machine ${machineId} already has ${MAX_VALIDATORS_PER_MACHINE} validators`,
        );
      }
      const startedAt = machine.round_started_at ?? now;
      const position = orders.length;
      const slots = validatorSlots(startedAt, position, this.#options.verificationWindowMs);
      if (slots[slots.length - 1]!.ends_at <= now) {
        throw new RpcError("conflict", "no time slot is left for another validator in this round");
      }
      const next = this.#transition(machine, { type: "validator_grabbed" }, now);
      this.#db.prepare(
        `INSERT INTO validator_orders (machine_id, round, validator, position, grabbed_at)
          VALUES (?, ?, ?, ?, ?)`,
      ).run(machineId, machine.round, validator, position, now);
      this.#db.prepare(
        `UPDATE machines SET status = ?, status_since = ?, round_started_at = ?, updated_at = ?
          WHERE machine_id = ?`,
      ).run(next.status, next.since, startedAt, now, machineId);
      return this.#machine(machineId);
    });
  }

  /** A validator reports what its check VM saw, within one of its slots. */
  reportOrder(signedBy: SignedBy, machineId: string, report: ValidatorReport): Machine {
    return this.#write(signedBy, (now, validator) => {
      const machine = this.#machineRowOrThrow(machineId);
      if (machine.status !== "verifying") {
        throw new RpcError(
          "conflict",
          `machine ${machineId} is ${machine.status}, not being verified`,
        );
      }
      const order = this.#orderRows(machineId, machine.round).find((row) =>
        row.validator === validator
      );
      if (!order) {
        throw new RpcError("forbidden", `${validator} holds no order for machine ${machineId}`);
      }
      if (order.reported_at !== null) {
        throw new RpcError("conflict", `${validator} already reported on machine ${machineId}`);
      }
      const slots = validatorSlots(
        machine.round_started_at!,
        order.position,
        this.#options.verificationWindowMs,
      );
      if (!inSlot(slots, now)) {
        const next = slots.find((slot) => slot.starts_at > now);
        throw new RpcError(
          "forbidden",
          `not within one of ${validator}'s time slots${
            next
              ? `; the next opens at ${new Date(next.starts_at).toISOString()}`
              : "; none is left"
          }`,
        );
      }
      const mismatches = configMismatches(JSON.parse(machine.config) as MachineConfig, report);
      this.#db.prepare(
        `UPDATE validator_orders SET report = ?, reported_at = ?, confirms = ?, mismatches = ?
          WHERE machine_id = ? AND round = ? AND validator = ?`,
      ).run(
        JSON.stringify(report),
        now,
        mismatches.length === 0 ? 1 : 0,
        JSON.stringify(mismatches),
        machineId,
        machine.round,
        validator,
      );
      this.#decide(machineId, now);
      return this.#machine(machineId);
    });
  }

  // -------------------------------------------------------------------------
  // Rentals

  /** Rents an online machine for `count` units from now. */
  rent(signedBy: SignedBy, input: { machine_id: string; unit: RentUnit; count: number }): Rental {
    return this.#write(signedBy, (now, renter) => {
      const machine = this.#machineRowOrThrow(input.machine_id);
      if (machine.status !== "online") {
        throw new RpcError(
          "conflict",
          `machine ${input.machine_id} is ${machine.status}, not online`,
        );
      }
      this.#requireUp(machine);
      const price = this.#price(machine, input.unit);
      const bill = this.#bill(input.unit, input.count, price, now, now);
      const info = this.#db.prepare(
        `INSERT INTO rentals (machine_id, renter, starts_at, ends_at, state, total_amount,
          created_at, updated_at) VALUES (?, ?, ?, ?, 'active', ?, ?, ?)`,
      ).run(input.machine_id, renter, now, bill.endsAt, bill.amount, now, now);
      const rentalId = Number(info.lastInsertRowid);
      this.#pay(
        { from: renter, to: machine.owner, amount: bill.amount, kind: "rent", rentalId },
        now,
      );
      this.#recordPayment(rentalId, "rent", input, price, bill, now, renter);
      const next = this.#transition(machine, { type: "rented", rentalId }, now);
      this.#setMachineState(input.machine_id, next, now);
      return this.#rental(rentalId);
    });
  }

  /**
   * Extends a rental by `count` units: from its end while it runs, from now
   * when it has ended (then only within the grace period, and only while no
   * one else rents the machine).
   */
  renew(signedBy: SignedBy, input: { rental_id: number; unit: RentUnit; count: number }): Rental {
    return this.#write(signedBy, (now, renter) => {
      const rental = this.#rentalRow(input.rental_id);
      if (!rental) throw new RpcError("not_found", `no rental ${input.rental_id}`);
      if (rental.renter !== renter) {
        throw new RpcError("forbidden", `rental ${input.rental_id} belongs to another renter`);
      }
      const machine = this.#machineRowOrThrow(rental.machine_id);
      const ended = rental.state === "ended";
      if (ended) {
        if (now >= rental.ends_at + this.#options.renewalGraceMs) {
          throw new RpcError(
            "conflict",
            `rental ${input.rental_id} ended more than ${
              this.#options.renewalGraceMs / 86_400_000
            } days ago; its instances are gone: rent the machine anew`,
          );
        }
        if (machine.status !== "online") {
          throw new RpcError("conflict", `machine ${machine.machine_id} is ${machine.status} now`);
        }
        this.#requireUp(machine);
      }
      const price = this.#price(machine, input.unit);
      const startsAt = ended ? now : rental.ends_at;
      const bill = this.#bill(input.unit, input.count, price, startsAt, now);
      this.#db.prepare(
        `UPDATE rentals SET ends_at = ?, state = 'active', total_amount = ?, updated_at = ?
          WHERE rental_id = ?`,
      ).run(bill.endsAt, addAmounts(rental.total_amount, bill.amount), now, rental.rental_id);
      this.#pay(
        {
          from: renter,
          to: machine.owner,
          amount: bill.amount,
          kind: "renew",
          rentalId: rental.rental_id,
        },
        now,
      );
      this.#recordPayment(rental.rental_id, "renew", input, price, bill, now, renter);
      if (ended) {
        const next = this.#transition(machine, { type: "rented", rentalId: rental.rental_id }, now);
        this.#setMachineState(machine.machine_id, next, now);
      }
      return this.#rental(rental.rental_id);
    });
  }

  getRental(rentalId: number): Rental {
    return this.#read(() => this.#rental(rentalId));
  }

  /** The latest rental of `machineId` by `renter`, as a GPU node needs it. */
  leaseStatus(machineId: string, renter: string): LeaseStatus {
    return this.#read(() => {
      const row = this.#db.prepare(
        `SELECT rental_id, state, ends_at FROM rentals WHERE machine_id = ? AND renter = ?
          ORDER BY rental_id DESC LIMIT 1`,
      ).get(machineId, account(renter)) as
        | { rental_id: number; state: "active" | "ended"; ends_at: number }
        | undefined;
      if (!row) return { state: "none" };
      const endsAt = effectiveEndsAt(
        row.ends_at,
        this.#outages(row.rental_id),
        this.#options.now(),
      );
      return row.state === "active"
        ? { state: "active", rental_id: String(row.rental_id), ends_at: endsAt }
        : { state: "ended", rental_id: String(row.rental_id), ended_at: endsAt };
    });
  }

  // -------------------------------------------------------------------------
  // Balances

  /** Credits `account` with `amount` (a ledger admin's write: how money enters the embedded ledger). */
  fund(signedBy: SignedBy, input: { account: string; amount: string }): AccountBalance {
    return this.#write(signedBy, (now, admin) => {
      if (!this.#admins.has(admin)) {
        throw new RpcError(
          "forbidden",
          `${admin} is not a ledger admin (ledger_admins) and cannot fund accounts`,
        );
      }
      const target = account(input.account);
      this.#credit(
        target,
        input.amount,
        { kind: "fund", rentalId: null, counterparty: admin },
        now,
      );
      return this.#balance(target);
    });
  }

  balance(address: string): AccountBalance {
    return this.#read(() => this.#balance(account(address)));
  }

  // -------------------------------------------------------------------------
  // Multisig accounts

  /** Records a multisig account (signed by one of its signatories); the same one again is no error. */
  registerMultisig(
    signedBy: SignedBy,
    input: { signatories: string[]; threshold: number },
  ): MultisigAccount {
    return this.#write(signedBy, (now, registrar) => {
      const derived = multisigAccount(input.signatories, input.threshold);
      if (!derived.ok) throw new RpcError("invalid_params", derived.reason);
      if (!derived.signatories.includes(registrar) && registrar !== derived.address) {
        throw new RpcError("forbidden", "only a signatory registers a multisig account");
      }
      this.#db.prepare(
        `INSERT OR IGNORE INTO multisig_accounts (address, threshold, signatories, registered_by,
          registered_at) VALUES (?, ?, ?, ?, ?)`,
      ).run(
        derived.address,
        derived.threshold,
        JSON.stringify(derived.signatories),
        registrar,
        now,
      );
      return this.#multisig(derived.address)!;
    });
  }

  getMultisig(address: string): MultisigAccount {
    return this.#read(() => {
      const found = this.#multisig(account(address));
      if (!found) throw new RpcError("not_found", `no multisig account ${address}`);
      return found;
    });
  }

  // -------------------------------------------------------------------------
  // Internals

  #read<T>(work: () => T): T {
    return transaction(this.#db, () => {
      this.#settle(this.#options.now());
      return work();
    });
  }

  #write<T>(signedBy: SignedBy, work: (now: number, actor: string) => T): T {
    return transaction(this.#db, () => {
      const now = this.#options.now();
      this.#settle(now);
      const actor = account(signedBy.account);
      const fresh = claimNonce(this.#db, {
        account: actor,
        nonce: signedBy.nonce,
        expiresAt: signedBy.nonce_expires_at,
        now,
      });
      if (!fresh) {
        throw new RpcError("conflict", `nonce ${signedBy.nonce} of ${actor} was already used`);
      }
      return work(now, actor);
    });
  }

  /**
   * Applies what time alone decides: machines silent past the heartbeat
   * time-out (down from their last heartbeat, their rentals' clocks stopped),
   * rounds whose window passed, rentals that reached their end.
   */
  #settle(now: number): void {
    const timeoutMs = this.#options.heartbeatTimeoutMs ?? 0;
    if (timeoutMs > 0) {
      const silent = this.#db.prepare(
        `SELECT machine_id, last_seen_at, rental_id FROM machines
          WHERE down_since IS NULL AND last_seen_at IS NOT NULL AND last_seen_at <= ?`,
      ).all(now - timeoutMs) as Array<
        { machine_id: string; last_seen_at: number; rental_id: number | null }
      >;
      for (const machine of silent) {
        if (!isSilent(machine.last_seen_at, now, timeoutMs)) continue;
        this.#db.prepare("UPDATE machines SET down_since = ? WHERE machine_id = ?")
          .run(machine.last_seen_at, machine.machine_id);
        // The active rental, unless it had already run out before the machine fell silent.
        const rental = this.#db.prepare(
          `SELECT rental_id, starts_at FROM rentals
            WHERE machine_id = ? AND state = 'active' AND ends_at > ?`,
        ).get(machine.machine_id, machine.last_seen_at) as
          | { rental_id: number; starts_at: number }
          | undefined;
        if (rental) {
          this.#db.prepare(
            "INSERT OR IGNORE INTO rental_outages (rental_id, down_since) VALUES (?, ?)",
          ).run(rental.rental_id, Math.max(machine.last_seen_at, rental.starts_at));
        }
      }
    }

    const rounds = this.#db.prepare(
      `SELECT machine_id FROM machines WHERE status = 'verifying' AND round_started_at <= ?`,
    ).all(now - this.#options.verificationWindowMs) as Array<{ machine_id: string }>;
    for (const { machine_id } of rounds) this.#decide(machine_id, now);

    // A rental with an outage going on is owed the time: its clock has stopped.
    const ended = this.#db.prepare(
      `SELECT rental_id, machine_id, ends_at FROM rentals r WHERE state = 'active' AND ends_at <= ?
        AND NOT EXISTS (SELECT 1 FROM rental_outages o WHERE o.rental_id = r.rental_id
          AND o.up_at IS NULL)`,
    ).all(now) as Array<{ rental_id: number; machine_id: string; ends_at: number }>;
    for (const rental of ended) {
      this.#db.prepare("UPDATE rentals SET state = 'ended', updated_at = ? WHERE rental_id = ?")
        .run(now, rental.rental_id);
      const machine = this.#machineRowOrThrow(rental.machine_id);
      const next = nextMachineState(
        stateOf(machine),
        { type: "rental_ended", rentalId: rental.rental_id },
        rental.ends_at,
      );
      if (next.ok) this.#setMachineState(rental.machine_id, next.state, now);
    }
  }

  /** Closes the round when it is over: online, failed, or a fresh round. */
  #decide(machineId: string, now: number): void {
    const machine = this.#machineRowOrThrow(machineId);
    if (machine.status !== "verifying" || machine.round_started_at === null) return;
    const orders = this.#orderRows(machineId, machine.round);
    const round = decideRound({
      startedAt: machine.round_started_at,
      windowMs: this.#options.verificationWindowMs,
      now,
      validators: orders.map((order) => ({
        confirms: order.confirms === null ? null : order.confirms === 1,
      })),
    });
    if (!round.over) return;
    const at = Math.min(now, machine.round_started_at + this.#options.verificationWindowMs);
    switch (round.verdict) {
      case "passed":
        this.#setMachineState(
          machineId,
          this.#transition(machine, { type: "validation_passed" }, at),
          now,
        );
        return;
      case "failed": {
        const reasons = orders.flatMap((order) => JSON.parse(order.mismatches) as string[]);
        const reason = `${round.refusals} of ${round.confirms + round.refusals} validators ` +
          `found the machine unlike its declaration: ${[...new Set(reasons)].join("; ")}`;
        this.#setMachineState(
          machineId,
          this.#transition(machine, { type: "validation_failed", reason }, at),
          now,
        );
        return;
      }
      case "inconclusive": {
        const next = this.#transition(machine, { type: "validation_inconclusive" }, at);
        this.#db.prepare(
          `UPDATE machines SET status = ?, status_since = ?, round = round + 1,
            round_started_at = NULL, updated_at = ? WHERE machine_id = ?`,
        ).run(next.status, next.since, now, machineId);
        return;
      }
    }
  }

  #transition(machine: MachineRow, event: MachineEvent, now: number): MachineState {
    const next = nextMachineState(stateOf(machine), event, now);
    if (!next.ok) throw new RpcError("conflict", `machine ${machine.machine_id}: ${next.reason}`);
    return next.state;
  }

  #setMachineState(machineId: string, state: MachineState, now: number): void {
    this.#db.prepare(
      `UPDATE machines SET status = ?, status_since = ?, failure_reason = ?, rental_id = ?,
        updated_at = ? WHERE machine_id = ?`,
    ).run(
      state.status,
      state.since,
      state.status === "failed" ? state.reason : null,
      state.status === "leased" ? state.rentalId : null,
      now,
      machineId,
    );
  }

  #price(machine: MachineRow, unit: RentUnit): string {
    const price = priceFor(JSON.parse(machine.prices) as RentPrices, unit);
    if (price === undefined) {
      throw new RpcError(
        "invalid_params",
        `machine ${machine.machine_id} does not rent by the ${unit}`,
      );
    }
    return price;
  }

  #bill(unit: RentUnit, count: number, price: string, startsAt: number, now: number) {
    const bill = billPeriod({ unit, count, pricePerUnit: price, startsAt });
    if (!bill.ok) throw new RpcError("invalid_params", bill.reason);
    if (bill.endsAt - now > MAX_RENTAL_AHEAD_MS) {
      throw new RpcError(
        "invalid_params",
        `a rental may run at most ${MAX_RENTAL_AHEAD_MS / 86_400_000} days ahead`,
      );
    }
    return bill;
  }

  #recordPayment(
    rentalId: number,
    kind: "rent" | "renew",
    input: { unit: RentUnit; count: number },
    price: string,
    bill: { endsAt: number; amount: string },
    now: number,
    paidBy: string,
  ): void {
    this.#db.prepare(
      `INSERT INTO rental_payments (rental_id, seq, kind, unit, count, price_per_unit, amount,
        paid_at, ends_at, paid_by)
        VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM rental_payments WHERE rental_id = ?),
          ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      rentalId,
      rentalId,
      kind,
      input.unit,
      input.count,
      price,
      bill.amount,
      now,
      bill.endsAt,
      paidBy,
    );
  }

  /** Moves `amount` from the payer to the payee, or refuses (changing nothing) when it is short. */
  #pay(
    payment: {
      from: string;
      to: string;
      amount: string;
      kind: "rent" | "renew";
      rentalId: number;
    },
    now: number,
  ): void {
    const has = this.#balanceOf(payment.from);
    const left = subtractAmount(has, payment.amount);
    if (left === undefined) {
      throw new RpcError(
        "conflict",
        `insufficient balance: ${payment.from} has ${has}, this ${payment.kind} costs ${payment.amount}`,
      );
    }
    this.#setBalance(payment.from, left, now, {
      kind: payment.kind,
      delta: payment.amount === "0" ? "0" : `-${payment.amount}`,
      rentalId: payment.rentalId,
      counterparty: payment.to,
    });
    this.#credit(payment.to, payment.amount, {
      kind: payment.kind,
      rentalId: payment.rentalId,
      counterparty: payment.from,
    }, now);
  }

  #credit(
    target: string,
    amount: string,
    entry: { kind: AccountEntry["kind"]; rentalId: number | null; counterparty: string | null },
    now: number,
  ): void {
    this.#setBalance(target, addAmounts(this.#balanceOf(target), amount), now, {
      ...entry,
      delta: amount,
    });
  }

  #setBalance(
    target: string,
    balance: string,
    now: number,
    entry: {
      kind: AccountEntry["kind"];
      delta: string;
      rentalId: number | null;
      counterparty: string | null;
    },
  ): void {
    this.#db.prepare(
      `INSERT INTO accounts (account, balance, updated_at) VALUES (?, ?, ?)
        ON CONFLICT (account) DO UPDATE SET balance = excluded.balance, updated_at = excluded.updated_at`,
    ).run(target, balance, now);
    this.#db.prepare(
      `INSERT INTO account_entries (account, at, kind, delta, balance, rental_id, counterparty)
        VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ).run(target, now, entry.kind, entry.delta, balance, entry.rentalId, entry.counterparty);
  }

  #balanceOf(target: string): string {
    const row = this.#db.prepare("SELECT balance FROM accounts WHERE account = ?").get(target) as
      | { balance: string }
      | undefined;
    return row?.balance ?? "0";
  }

  #balance(target: string): AccountBalance {
    const entries = this.#db.prepare(
      `SELECT seq, at, kind, delta, balance, rental_id, counterparty FROM account_entries
        WHERE account = ? ORDER BY seq DESC LIMIT ?`,
    ).all(target, ACCOUNT_ENTRIES_SHOWN) as AccountEntry[];
    return {
      account: target,
      balance: this.#balanceOf(target),
      entries: entries.map((entry) => ({ ...entry })),
    };
  }

  /** A machine that is down is not rented to anyone until it answers again. */
  #requireUp(machine: MachineRow): void {
    if (machine.down_since !== null) {
      throw new RpcError(
        "conflict",
        `machine ${machine.machine_id} has not answered since ${
          new Date(machine.down_since).toISOString()
        }: it is down`,
      );
    }
  }

  #outages(rentalId: number): Outage[] {
    return this.#db.prepare(
      "SELECT down_since, up_at FROM rental_outages WHERE rental_id = ? ORDER BY down_since",
    ).all(rentalId) as Outage[];
  }

  #machineRow(machineId: string): MachineRow | undefined {
    return this.#db.prepare(
      `SELECT machine_id, owner, config, prices, status, status_since, failure_reason, rental_id,
        round, round_started_at, registered_at, last_seen_at, last_heartbeat_signed_at, down_since
        FROM machines WHERE machine_id = ?`,
    ).get(machineId) as MachineRow | undefined;
  }

  #machineRowOrThrow(machineId: string): MachineRow {
    const row = this.#machineRow(machineId);
    if (!row) throw new RpcError("not_found", `no machine ${machineId} in the ledger`);
    return row;
  }

  #orderRows(machineId: string, round: number): OrderRow[] {
    return this.#db.prepare(
      `SELECT validator, position, grabbed_at, report, reported_at, confirms, mismatches
        FROM validator_orders WHERE machine_id = ? AND round = ? ORDER BY position`,
    ).all(machineId, round) as OrderRow[];
  }

  #machine(machineId: string): Machine {
    const row = this.#machineRowOrThrow(machineId);
    const window = this.#options.verificationWindowMs;
    const validators: ValidatorOrder[] = this.#orderRows(machineId, row.round).map((order) => ({
      validator: order.validator,
      position: order.position,
      grabbed_at: order.grabbed_at,
      slots: validatorSlots(row.round_started_at ?? order.grabbed_at, order.position, window),
      report: order.report === null ? null : JSON.parse(order.report) as ValidatorReport,
      reported_at: order.reported_at,
      confirms: order.confirms === null ? null : order.confirms === 1,
      mismatches: JSON.parse(order.mismatches) as string[],
    }));
    return {
      machine_id: row.machine_id,
      owner: row.owner,
      config: JSON.parse(row.config) as MachineConfig,
      prices: JSON.parse(row.prices) as RentPrices,
      status: row.status,
      status_since: row.status_since,
      failure_reason: row.failure_reason,
      rental_id: row.rental_id,
      registered_at: row.registered_at,
      liveness: { last_seen_at: row.last_seen_at, down_since: row.down_since },
      validation: {
        round: row.round,
        started_at: row.round_started_at,
        ends_at: row.round_started_at === null ? null : row.round_started_at + window,
        validators,
      },
    };
  }

  #rentalRow(rentalId: number): RentalRow | undefined {
    return this.#db.prepare(
      `SELECT rental_id, machine_id, renter, starts_at, ends_at, state, total_amount
        FROM rentals WHERE rental_id = ?`,
    ).get(rentalId) as RentalRow | undefined;
  }

  #rental(rentalId: number): Rental {
    const row = this.#rentalRow(rentalId);
    if (!row) throw new RpcError("not_found", `no rental ${rentalId}`);
    const payments = this.#db.prepare(
      `SELECT kind, unit, count, price_per_unit, amount, paid_at, ends_at, paid_by
        FROM rental_payments WHERE rental_id = ? ORDER BY seq`,
    ).all(rentalId) as RentalPayment[];
    const now = this.#options.now();
    const outages = this.#outages(rentalId);
    return {
      ...row,
      ends_at: effectiveEndsAt(row.ends_at, outages, now),
      payments: payments.map((payment) => ({ ...payment })),
      outages: outages.map((outage) => ({
        down_since: outage.down_since,
        up_at: outage.up_at,
        credited_ms: outageCredit(outage, now),
      })),
    };
  }

  #multisig(address: string): MultisigAccount | undefined {
    const row = this.#db.prepare(
      `SELECT address, threshold, signatories, registered_by, registered_at
        FROM multisig_accounts WHERE address = ?`,
    ).get(address) as
      | (Omit<MultisigAccount, "signatories"> & { signatories: string })
      | undefined;
    return row ? { ...row, signatories: JSON.parse(row.signatories) as string[] } : undefined;
  }
}

function stateOf(row: MachineRow): MachineState {
  switch (row.status) {
    case "leased":
      return { status: "leased", since: row.status_since, rentalId: row.rental_id ?? -1 };
    case "failed":
      return { status: "failed", since: row.status_since, reason: row.failure_reason ?? "" };
    default:
      return { status: row.status, since: row.status_since };
  }
}

function account(address: string): string {
  const normal = normalizeAccount(address);
  if (!normal) throw new RpcError("invalid_params", `${address} is not an SS58 account address`);
  return normal;
}
