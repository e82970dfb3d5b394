/** Machine ids: derived from the node key and back, configured, or the chain's. */
import assert from "node:assert/strict";
import {
  derivedMachineId,
  generateNodeKeys,
  isMachineId,
  loadConfig,
  machineIdOf,
  nodeIdOfMachineId,
} from "../../mod/mod.ts";

Deno.test("a derived machine id is the node key's hex, and gives the node id back", () => {
  const keys = generateNodeKeys();
  const machineId = derivedMachineId(keys.nodeId)!;
  assert.ok(isMachineId(machineId));
  assert.equal(
    machineId,
    Array.from(keys.publicKey, (byte) => byte.toString(16).padStart(2, "0")).join(""),
  );
  assert.equal(nodeIdOfMachineId(machineId), keys.nodeId);
  assert.equal(derivedMachineId("not-a-node-id"), undefined);
  assert.equal(nodeIdOfMachineId(machineId.toUpperCase()), undefined);
  assert.equal(nodeIdOfMachineId(`0x${machineId}`), undefined);
});

Deno.test("the machine id: configured, else the chain's when it has the form, else derived; bad values stop the node", () => {
  const { nodeId } = generateNodeKeys();
  const config = (args: string[]) => loadConfig({ args, env: {}, cwd: "/tmp" }).config;
  assert.equal(machineIdOf(config([]), nodeId), derivedMachineId(nodeId));
  const chain = "de4d27ec8ffd24e0563e45ea924e9ef9acaa7666fd80892f492746dc90351918";
  assert.equal(machineIdOf(config(["--substrate-machine-id", chain]), nodeId), chain);
  assert.equal(
    machineIdOf(config(["--substrate-machine-id", "m-1"]), nodeId),
    derivedMachineId(nodeId),
  );
  const own = "ab".repeat(32);
  assert.equal(
    machineIdOf(config(["--machine-id", own, "--substrate-machine-id", chain]), nodeId),
    own,
  );
  assert.throws(() => config(["--machine-id", own.toUpperCase()]), /machine_id.*64 lower-case hex/);
  assert.equal(config([]).compat_http_port, 5002);
  assert.equal(config(["--compat-http-port", "0"]).compat_http_port, 0);
});
