/** The settings of wallet authorisation, the ledger and the lease loop. */
import assert from "node:assert/strict";
import {
  chainRpcHosts,
  ConfigError,
  loadConfig,
  nodePaths,
  workerPermissions,
} from "../../mod/mod.ts";

const load = (args: string[]) => loadConfig({ args, env: {}, cwd: "/srv/dbc" }).config;

Deno.test("defaults: modern signing only, 5-minute window, 10 days' retention, the seeds' ledger", () => {
  const config = load([]);
  assert.equal(config.auth_legacy_nonce_signing, false);
  assert.equal(config.auth_timestamp_window_s, 300);
  assert.equal(config.lease_retention_days, 10);
  assert.equal(config.lease_check_interval_s, 60);
  assert.equal(config.verification_service, "ledger");
  assert.deepEqual(config.ledger_validators, []);
  assert.equal(config.ledger_verification_window_s, 36 * 3_600);
});

Deno.test("legacy signing is a boolean; validators must be SS58 addresses", () => {
  assert.equal(load(["--auth-legacy-nonce-signing", "true"]).auth_legacy_nonce_signing, true);
  assert.equal(load(["--auth-legacy-nonce-signing", "off"]).auth_legacy_nonce_signing, false);
  assert.throws(() => load(["--auth-legacy-nonce-signing", "maybe"]), ConfigError);
  const alice = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
  assert.deepEqual(load(["--ledger-validators", alice]).ledger_validators, [alice]);
  assert.throws(
    () => load(["--ledger-validators", `${alice},not-an-address`]),
    /ledger_validators/,
  );
  assert.throws(() => load(["--substrate-rpc-url", "http://chain:9944"]), /substrate_rpc_url/);
});

Deno.test("the node service may reach the chain's endpoint only when it reads the chain", () => {
  const chain = load([
    "--verification-service",
    "substrate",
    "--substrate-rpc-url",
    "ws://127.0.0.1:9944",
  ]);
  assert.deepEqual(chainRpcHosts(chain), ["127.0.0.1:9944"]);
  assert.deepEqual(
    chainRpcHosts({
      verification_service: "substrate",
      substrate_rpc_url: "wss://rpc.example.org/ws",
    }),
    ["rpc.example.org:443"],
  );
  assert.deepEqual(chainRpcHosts(load(["--substrate-rpc-url", "ws://127.0.0.1:9944"])), []);
  const permissions = workerPermissions("node_service", {
    config: chain,
    paths: nodePaths("/srv/dbc/data"),
    programPaths: [],
  });
  assert.ok(Array.isArray(permissions.net) && permissions.net.includes("127.0.0.1:9944"));
});
