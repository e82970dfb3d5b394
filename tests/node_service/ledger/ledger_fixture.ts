/** A ledger on a real SQLite file with a fake clock, and a machine brought online by three validators. */
import assert from "node:assert/strict";
import { type MachineConfig, type RentPrices, RpcError, type SignedBy } from "../../../mod/mod.ts";
import { Ledger, type LedgerOptions } from "../../../node_service/ledger/mod.ts";
import { scratchDir } from "../../helpers.ts";
import { machineId, registration } from "../../machines.ts";
import { devWallets } from "../../wallets.ts";

export const HOUR = 3_600_000;
export const DAY = 86_400_000;
export const WINDOW = 9 * HOUR;
export const T0 = Date.UTC(2026, 0, 1);
export const CONFIG: MachineConfig = {
  gpu_model: "NVIDIA H100 80GB HBM3",
  gpu_count: 2,
  cpu_model: "AMD EPYC 9654",
  cpu_cores: 64,
  memory_gib: 512,
  disk_gib: 4000,
};

let nonces = 0;
export function by(account: string): SignedBy {
  return { account, nonce: `fixture-nonce-${nonces++}`, nonce_expires_at: T0 + 365 * DAY };
}

export async function openLedger(options: Partial<LedgerOptions> = {}) {
  const dir = await scratchDir("ledger");
  const clock = { now: T0 };
  const settings: LedgerOptions = {
    now: () => clock.now,
    verificationWindowMs: WINDOW,
    validators: [],
    renewalGraceMs: 10 * DAY,
    ...options,
  };
  const path = `${dir}/ledger.db`;
  return { path, clock, settings, ledger: Ledger.open(path, settings) };
}

/** Registers machine `name` for Alice and has Bob, Charlie and Dave confirm it. */
export async function onlineMachine(
  ledger: Ledger,
  clock: { now: number },
  name: string,
  prices: RentPrices,
): Promise<string> {
  const { alice, bob, charlie, dave } = await devWallets();
  ledger.registerMachine(
    by(alice.address),
    registration({
      machine: name,
      owner: alice.address,
      config: CONFIG,
      prices,
      signedAt: clock.now,
    }),
  );
  const id = machineId(name);
  const start = clock.now;
  for (const validator of [bob, charlie, dave]) ledger.grabOrder(by(validator.address), id);
  for (const [index, validator] of [bob, charlie, dave].entries()) {
    clock.now = start + index * HOUR;
    ledger.reportOrder(by(validator.address), id, { kind: "observed", observed: CONFIG });
  }
  assert.equal(ledger.getMachine(id).status, "online");
  return id;
}

/** The RpcError a call throws, as `code: message`; "no error" when it does not throw. */
export function refusal(work: () => unknown): string {
  try {
    work();
  } catch (error) {
    if (error instanceof RpcError) return `${error.code}: ${error.message}`;
    throw error;
  }
  return "no error";
}
