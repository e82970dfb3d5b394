/**
 * Following another node's operation (`/operations/:id/events?node_id=X`)
 * makes this node poll that one for up to 30 minutes: only for a caller whose
 * wallet signature holds (real signatures, through the real app).
 */
import assert from "node:assert/strict";
import { type AppDeps, createApp } from "../../http/mod.ts";
import { RpcError, silentLogger } from "../../mod/mod.ts";
import { devWallets, walletHeaders } from "../wallets.ts";

const HERE = "12D3KooWLNDhWRc1VNwjKGS69Qbu2i4SVKh6aZW3HEc9T5pTGH5k";
const THERE = "12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo";
const OPERATION = `op-${"ab".repeat(16)}`;

Deno.test("a remote operation is followed only for a signed caller; a local one as before", async () => {
  const { alice } = await devWallets();
  const sent: unknown[] = [];
  const call = ((method: string, params: unknown) => {
    if (method === "network.send") sent.push(params);
    return Promise.reject(new RpcError("unavailable", `${method}: not in this test`));
  }) as unknown as AppDeps["call"];
  const app = createApp({
    call,
    log: silentLogger,
    node: { nodeId: HERE, role: "client", forwardTimeoutMs: 1_000 },
  });
  const path = `/api/v1/operations/${OPERATION}/events?node_id=${THERE}`;
  const anonymous = await app.request(path);
  assert.equal(anonymous.status, 401);
  await anonymous.body?.cancel();
  assert.equal(sent.length, 0, "nothing was sent to the other node");

  const signed = await app.request(path, {
    headers: walletHeaders(alice, {
      method: "GET",
      path,
      timestamp: Date.now(),
    }),
  });
  assert.equal(signed.status, 200);
  assert.match(signed.headers.get("content-type") ?? "", /text\/event-stream/);
  await signed.body?.cancel();

  // A local operation is still followed by its id alone (the id is the capability).
  const local = await app.request(`/api/v1/operations/${OPERATION}/events`);
  assert.equal(local.status, 200);
  assert.match(await local.text(), /event: error/);
});
