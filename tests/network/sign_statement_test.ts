/**
 * `network.sign_statement`: the network worker signs what its node says
 * about itself, with its real key (WebCrypto Ed25519), and nothing about
 * another node; the ledger's check accepts the one and not a forgery.
 */
import assert from "node:assert/strict";
import {
  checkNodeStatement,
  generateNodeKeys,
  loadConfig,
  type NodeStatement,
  RpcError,
} from "../../mod/mod.ts";
import { nodeAuthenticator } from "../../network/authenticator.ts";
import { networkHandlers } from "../../network/handlers.ts";
import type { Inbox } from "../../network/inbox.ts";
import type { PeerNode } from "../../network/peer_node.ts";

Deno.test("network.sign_statement signs statements about this node only", async () => {
  const keys = generateNodeKeys();
  const other = generateNodeKeys();
  const auth = nodeAuthenticator(keys.privateKey);
  const handlers = networkHandlers({
    // Signing touches neither the peer-to-peer node nor the inbox.
    peer: undefined as unknown as PeerNode,
    inbox: undefined as unknown as Inbox,
    config: loadConfig({ args: [], env: {}, cwd: "/" }).config,
    listening: () => [],
    nodeId: keys.nodeId,
    sign: (message) => auth.sign(message),
  });
  const context = { from: "node_service" as const };
  const now = Date.now();
  const statement: NodeStatement = {
    kind: "machine_heartbeat",
    machine_id: keys.nodeId,
    signed_at: now,
  };
  const { signature } = await handlers["network.sign_statement"]({ statement }, context);
  assert.deepEqual(checkNodeStatement(statement, signature, now), { ok: true });
  // The same signature does not vouch for another kind, another time or another node.
  assert.equal(checkNodeStatement({ ...statement, signed_at: now + 1 }, signature, now).ok, false);
  assert.equal(
    checkNodeStatement({ ...statement, machine_id: other.nodeId }, signature, now).ok,
    false,
  );

  await assert.rejects(
    Promise.resolve().then(() =>
      handlers["network.sign_statement"]({
        statement: { kind: "machine_heartbeat", machine_id: other.nodeId, signed_at: now },
      }, context)
    ),
    (error) =>
      error instanceof RpcError && error.code === "forbidden" &&
      /signs statements about itself/.test(error.message),
  );
});
