/**
 * Ledger reads from other nodes (`ledger.rpc`, node_service/ledger/rpc.ts)
 * answered by a real embedded ledger on a real SQLite file, holding a
 * registered machine: request bodies valid for every method a seed serves
 * (parameters drawn from the catalogue, naming the machine and its owner
 * often), the writes it never serves, the same edited, and anything else.
 * Contract: `answerLedgerRpc` never throws or rejects; every reply fits
 * `LedgerRpcReplySchema`; and none is `internal`: a request the catalogue
 * accepts is the ledger's to answer or refuse, never to crash on.
 */
import fc from "fast-check";
import { ed25519 } from "@noble/curves/ed25519.js";
import { base64 } from "@scure/base";
import {
  generateNodeKeys,
  LEDGER_RPC_METHODS,
  LedgerRpcReplySchema,
  loadConfig,
  ManualClock,
  METHODS,
  nodePaths,
  nodeStatementBytes,
  openDatabase,
  silentLogger,
} from "../../../mod/mod.ts";
import { EventLog } from "../../../node_service/event_log.ts";
import { startLedger } from "../../../node_service/ledger/handlers.ts";
import { answerLedgerRpc } from "../../../node_service/ledger/rpc.ts";
import { SERVICE_MIGRATIONS } from "../../../node_service/migrations.ts";
import { CATALOGUE_VALUES } from "../http_stub.ts";
import { type Json, mutatedJson, oddJson } from "../mutate.ts";
import { schemaValues } from "../schema_arbitrary.ts";
import { expect, type FuzzTarget } from "../target.ts";
import { ed25519Wallet } from "../wallets.ts";

const T0 = Date.UTC(2026, 0, 1);
/** Where the target keeps its database while it runs (the fuzz task may write there). */
const SCRATCH = new URL("../../../.test-tmp/", import.meta.url);
const WRITES = [
  "ledger.machine_register",
  "ledger.rent",
  "ledger.fund",
  "ledger.order_grab",
] as const;

export const target: FuzzTarget<Json> = {
  name: "ledger.rpc",
  about: "answerLedgerRpc always replies in its schema and never with an internal error",
  property: async () => {
    await Deno.mkdir(SCRATCH, { recursive: true });
    const dir = await Deno.makeTempDir({ dir: SCRATCH.pathname, prefix: "fuzz-ledger-" });
    const paths = nodePaths(dir);
    await Deno.mkdir(paths.serviceDir, { recursive: true });
    const { config } = loadConfig({
      args: ["--role", "seed", "--ledger-open-validation", "true"],
      env: {},
      cwd: dir,
    });
    const clock = new ManualClock(T0);
    const db = openDatabase(paths.serviceDb, SERVICE_MIGRATIONS, { now: () => clock.now() });
    const events = new EventLog(db, () => clock.now());
    const started = startLedger({ config, paths, events, clock, log: silentLogger });
    // One registered machine, so that reads find something.
    const owner = ed25519Wallet(1).address;
    const machineKeys = generateNodeKeys();
    const machineConfig = {
      gpu_model: "NVIDIA H100",
      gpu_count: 1,
      cpu_model: "EPYC",
      cpu_cores: 8,
      memory_gib: 64,
      disk_gib: 500,
    };
    const statement = {
      kind: "machine_registration" as const,
      machine_id: machineKeys.nodeId,
      owner,
      config: machineConfig,
      prices: { hour: "5" },
      signed_at: T0,
    };
    started.handlers["ledger.machine_register"]({
      signed_by: { account: owner, nonce: "fuzz-1", nonce_expires_at: T0 + 600_000 },
      machine_id: machineKeys.nodeId,
      config: machineConfig,
      prices: { hour: "5" },
      node_proof: {
        signed_at: T0,
        signature: base64.encode(
          ed25519.sign(nodeStatementBytes(statement), machineKeys.privateKey),
        ),
      },
    }, { from: "http" });

    const known = fc.constantFrom(machineKeys.nodeId, owner);
    const requests = fc.constantFrom(...LEDGER_RPC_METHODS, ...WRITES).chain((method) =>
      fc.record({
        method: fc.constant(method),
        params: fc.tuple(
          schemaValues(METHODS[method].params, CATALOGUE_VALUES),
          fc.boolean(),
          known,
        )
          .map(([params, aim, id]) => {
            // Name the registered machine and its owner often, so reads find it.
            if (
              !aim || params === undefined || params === null || typeof params !== "object"
            ) return params ?? {};
            const copy = { ...params as Record<string, unknown> };
            for (const key of ["machine_id", "renter", "account", "owner"]) {
              if (key in copy) {
                copy[key] = key === "machine_id"
                  ? machineKeys.nodeId
                  : id === owner
                  ? owner
                  : copy[key];
              }
            }
            return copy;
          }),
      })
    ) as fc.Arbitrary<Json>;
    return {
      arbitrary: fc.oneof(
        { arbitrary: requests, weight: 5 },
        { arbitrary: mutatedJson(requests), weight: 4 },
        { arbitrary: oddJson(), weight: 1 },
      ),
      async check(body) {
        const reply = await answerLedgerRpc(body, started.handlers);
        expect(
          LedgerRpcReplySchema.safeParse(reply).success,
          () => `a reply off its schema: ${JSON.stringify(reply)}`,
        );
        expect(
          reply.outcome === "ok" || reply.code !== "internal",
          () => `an internal error: ${reply.outcome === "error" && reply.message}`,
        );
        clock.advance(1_000);
      },
      async dispose() {
        started.stop();
        db.close();
        await Deno.remove(dir, { recursive: true });
      },
    };
  },
};
