/**
 * A client-end under abuse, as a real process with its default limits: a
 * request flood, oversize and malformed bodies, connections that never finish
 * their request, and bogus signatures. It must answer each with a clear 4xx,
 * keep serving well-behaved requests meanwhile, and not grow without bound.
 */
import assert from "node:assert/strict";
import { scratchDir, waitFor } from "../helpers.ts";
import { residentKiB, startNode, stopAll, whenUp } from "../network/node_processes.ts";

const HALF_OPEN_CONNECTIONS = 200;

Deno.test({
  name:
    "a client-end under a flood, oversize and malformed bodies and half-open connections stays up",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await scratchDir("client-abuse");
    const node = await startNode({ name: "client", dataDir: `${dir}/client`, role: "client" });
    const held: Deno.TcpConn[] = [];
    try {
      await whenUp(node);
      const base = `http://127.0.0.1:${node.httpPort}`;
      const send = async (path: string, init: RequestInit = {}) => {
        const response = await fetch(`${base}${path}`, init);
        const text = await response.text();
        return { status: response.status, text };
      };
      // One answer says a token is back (and takes it); half a second more refills 25 (at the
      // default 50 a second), room for the few requests each check below makes in a row.
      const rateRefilled = async () => {
        await waitFor("the rate limit to refill", async () => {
          const { status } = await send("/api/v1/node");
          return status === 200 ? true : undefined;
        }, 30_000);
        await new Promise((resolve) => setTimeout(resolve, 500));
      };
      const rssBefore = await residentKiB(node.child.pid);

      // A flood from one address: served up to the burst, then 429s, never a 5xx.
      const statuses = new Map<number, number>();
      for (let wave = 0; wave < 10; wave++) {
        const answers = await Promise.all(
          Array.from({ length: 100 }, () => send("/api/v1/peers/active")),
        );
        for (const { status } of answers) statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
      assert.deepEqual([...statuses.keys()].sort(), [200, 429], JSON.stringify([...statuses]));
      assert.ok(statuses.get(429)! > 500, JSON.stringify([...statuses]));
      await rateRefilled();

      // Bodies: oversize is 413, garbage JSON 400, a wrong shape 400 naming the field.
      const json = { "content-type": "application/json" };
      const oversize = await send("/api/v1/ledger/rentals", {
        method: "POST",
        headers: json,
        body: "x".repeat(4 * 1024 * 1024),
      });
      assert.equal(oversize.status, 413, oversize.text);
      const own = `?node_id=${node.nodeId}`;
      const garbage = await send(`/api/v1/tasks/start${own}`, {
        method: "POST",
        headers: json,
        body: "{not json",
      });
      assert.equal(garbage.status, 400, garbage.text);
      const wrongShape = await send(`/api/v1/tasks/start${own}`, {
        method: "POST",
        headers: json,
        body: JSON.stringify({ image_name: "x", cpu_cores: "many", mem_size: 1 }),
      });
      assert.equal(wrongShape.status, 400, wrongShape.text);
      assert.match(wrongShape.text, /cpu_cores/);
      // Signed-looking but forged, for this node (so it checks the signature itself): 401.
      const forged = await send(
        `/api/v1/tasks${own}`,
        {
          headers: {
            "x-dbc-wallet": "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
            "x-dbc-nonce": "n-1",
            "x-dbc-timestamp": String(Date.now()),
            "x-dbc-sign": "00".repeat(64),
          },
        },
      );
      assert.equal(forged.status, 401, forged.text);
      assert.match(forged.text, /"error_code":-32001/);

      // Connections that send half a request and wait: the node keeps answering others.
      for (let index = 0; index < HALF_OPEN_CONNECTIONS; index++) {
        const connection = await Deno.connect({ hostname: "127.0.0.1", port: node.httpPort });
        await connection.write(
          new TextEncoder().encode("POST /api/v1/node HTTP/1.1\r\nHost: x\r\n"),
        );
        held.push(connection);
      }
      await rateRefilled();
      const startedAt = performance.now();
      const info = await send("/api/v1/node");
      assert.equal(info.status, 200);
      assert.ok(performance.now() - startedAt < 10_000, "answered while connections hang");

      // Still up, and memory did not run away.
      assert.equal(node.exited, false);
      const rssAfter = await residentKiB(node.child.pid);
      console.log(`resident memory: ${rssBefore} KiB before, ${rssAfter} KiB after the abuse`);
      assert.ok(rssAfter - rssBefore < 128 * 1024, "memory stayed bounded");
    } finally {
      for (const connection of held) {
        try {
          connection.close();
        } catch { /* already closed by the server */ }
      }
      await stopAll([node]);
      await Deno.remove(dir, { recursive: true });
    }
  },
});
