/**
 * Who may validate on the embedded ledger: a ledger this node keeps refuses
 * to start with an empty `ledger_validators` unless `ledger_open_validation`
 * (devnets, tests) allows any wallet; with a committee, only its members grab.
 */
import assert from "node:assert/strict";
import {
  generateNodeKeys,
  loadConfig,
  ManualClock,
  nodePaths,
  openDatabase,
  RpcError,
  type SignedBy,
  silentLogger,
} from "../../../mod/mod.ts";
import { EventLog } from "../../../node_service/event_log.ts";
import { ledgerStartRefusal, startLedger } from "../../../node_service/ledger/handlers.ts";
import { Ledger } from "../../../node_service/ledger/ledger.ts";
import { SERVICE_MIGRATIONS } from "../../../node_service/migrations.ts";
import { scratchDir } from "../../helpers.ts";
import { machineId, registration } from "../../machines.ts";
import { devWallets } from "../../wallets.ts";

const T0 = Date.UTC(2026, 0, 1);
const load = (args: string[]) => loadConfig({ args, env: {}, cwd: "/srv/dbc" }).config;

Deno.test("validators: open validation is off by default and a boolean", () => {
  assert.equal(load([]).ledger_open_validation, false);
  assert.equal(load(["--ledger-open-validation", "true"]).ledger_open_validation, true);
  assert.equal(
    loadConfig({ args: [], env: { DBC_LEDGER_OPEN_VALIDATION: "1" }, cwd: "/srv/dbc" }).config
      .ledger_open_validation,
    true,
  );
  assert.throws(() => load(["--ledger-open-validation", "maybe"]), /ledger_open_validation/);
});

Deno.test("validators: a ledger with no committee refuses to start unless open validation is on", async () => {
  const { alice } = await devWallets();
  const self = generateNodeKeys().nodeId;
  const other = generateNodeKeys().nodeId;
  const seed = load(["--role", "seed"]);
  assert.match(ledgerStartRefusal(seed, self)!, /ledger_validators.*empty.*ledger_open_validation/);
  assert.match(
    ledgerStartRefusal(load(["--role", "seed", "--ledger-authority", self]), self)!,
    /ledger_validators/,
  );
  assert.equal(
    ledgerStartRefusal(load(["--role", "seed", "--ledger-open-validation", "true"]), self),
    undefined,
  );
  assert.equal(
    ledgerStartRefusal(load(["--role", "seed", "--ledger-validators", alice.address]), self),
    undefined,
  );
  // Nodes that keep no ledger need no committee.
  assert.equal(ledgerStartRefusal(load(["--role", "gpu"]), self), undefined);
  assert.equal(
    ledgerStartRefusal(load(["--role", "seed", "--ledger-authority", other]), self),
    undefined,
  );

  const dir = await scratchDir("ledger-validators");
  const paths = nodePaths(dir);
  await Deno.mkdir(paths.serviceDir, { recursive: true });
  const clock = new ManualClock(T0);
  const db = openDatabase(paths.serviceDb, SERVICE_MIGRATIONS, { now: () => clock.now() });
  try {
    const events = new EventLog(db, () => clock.now());
    assert.throws(
      () => startLedger({ config: seed, paths, events, clock, log: silentLogger, nodeId: self }),
      /ledger_validators/,
    );
    await assert.rejects(Deno.stat(`${paths.serviceDir}/ledger.db`), Deno.errors.NotFound);
  } finally {
    db.close();
  }
});

Deno.test("validators: with a committee, a wallet outside it cannot grab; members take the 3 places", async () => {
  const { alice, bob, charlie, dave, eve } = await devWallets();
  const dir = await scratchDir("ledger-committee");
  let nonce = 0;
  const by = (account: string): SignedBy => ({
    account,
    nonce: `n-${nonce++}`,
    nonce_expires_at: T0 + 86_400_000,
  });
  const ledger = Ledger.open(`${dir}/ledger.db`, {
    now: () => T0,
    verificationWindowMs: 9 * 3_600_000,
    validators: [bob.address, charlie.address, dave.address, eve.address],
    renewalGraceMs: 86_400_000,
  });
  try {
    ledger.registerMachine(
      by(alice.address),
      registration({
        machine: "machine-1",
        owner: alice.address,
        config: {
          gpu_model: "NVIDIA H100 80GB HBM3",
          gpu_count: 1,
          cpu_model: "AMD EPYC",
          cpu_cores: 8,
          memory_gib: 64,
          disk_gib: 500,
        },
        prices: { second: "1", hour: "3600", day: "86400" },
        signedAt: T0,
      }),
    );
    const refused = (() => {
      try {
        ledger.grabOrder(by(alice.address), machineId("machine-1"));
      } catch (error) {
        return error;
      }
    })();
    assert.ok(refused instanceof RpcError && refused.code === "forbidden");
    for (const member of [bob, charlie, dave]) {
      ledger.grabOrder(by(member.address), machineId("machine-1"));
    }
    assert.throws(
      () => ledger.grabOrder(by(eve.address), machineId("machine-1")),
      /already has 3 validators/,
    );
    assert.deepEqual(
      ledger.getMachine(machineId("machine-1")).validation.validators.map((order) =>
        order.validator
      ),
      [bob.address, charlie.address, dave.address],
    );
  } finally {
    ledger.close();
  }
});
