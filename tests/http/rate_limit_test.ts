import assert from "node:assert/strict";
import { createApp, RateLimiter } from "../../http/mod.ts";
import { REMOTE_NODE_RATE_FACTOR } from "../../http/app.ts";
import { RpcError, silentLogger } from "../../mod/mod.ts";

/**
 * The app as every request from `clientAddress` reaches it: 1 request a second after a burst of
 * 2, a clock that stands still, and no node service behind it.
 */
function limitedApp(clientAddress: string) {
  return createApp({
    call: (() => Promise.reject(new RpcError("unavailable", "x"))) as Parameters<
      typeof createApp
    >[0]["call"],
    log: silentLogger,
    rateLimit: { perSecond: 1, burst: 2 },
    clientAddress: () => clientAddress,
    now: () => 0,
  });
}

Deno.test("a client may burst, then is held to its average rate; others are unaffected", () => {
  let now = 0;
  const limiter = new RateLimiter({ ratePerSecond: 2, burst: 3, maxClients: 10, now: () => now });
  assert.deepEqual([1, 2, 3].map(() => limiter.take("a").allowed), [true, true, true]);
  assert.deepEqual(limiter.take("a"), { allowed: false, retryAfterSeconds: 1 });
  assert.equal(limiter.take("b").allowed, true);
  now += 500; // half a second refills one token at 2/s
  assert.equal(limiter.take("a").allowed, true);
  assert.equal(limiter.take("a").allowed, false);
});

Deno.test("the limiter forgets the least recently seen clients beyond its bound", () => {
  const limiter = new RateLimiter({ ratePerSecond: 1, burst: 1, maxClients: 100, now: () => 0 });
  for (let index = 0; index < 10_000; index++) limiter.take(`10.0.${index >> 8}.${index & 255}`);
  assert.equal(limiter.trackedClients, 100);
});

Deno.test("over the limit the API answers 429 with Retry-After in the envelope", async () => {
  const app = limitedApp("192.0.2.7");
  const statuses = [];
  for (let index = 0; index < 3; index++) {
    statuses.push((await app.request("/api/v1/nothing")).status);
  }
  assert.deepEqual(statuses, [404, 404, 429]);
  const limited = await app.request("/api/v1/nothing");
  assert.equal(limited.headers.get("retry-after"), "1");
  assert.deepEqual(await limited.json(), {
    error_code: -32029,
    error_message: "too many requests; retry in 1 s",
  });
});

Deno.test("requests tunnelled from a client-end are limited per client-end and wallet", async () => {
  const app = limitedApp("127.0.0.1");
  const tunnelled = async (from: string, wallet: string) =>
    (await app.fetch(
      new Request("http://node/api/v1/nothing", { headers: { "x-dbc-wallet": wallet } }),
      { remoteNode: from },
    )).status;
  const statuses = async (from: string, wallet: string) => {
    const seen = [];
    for (let index = 0; index < 3; index++) seen.push(await tunnelled(from, wallet));
    return seen;
  };
  assert.deepEqual(await statuses("node-a", "5Alice"), [404, 404, 429]);
  // Another renter behind the same client-end, and the same renter through another one, go on.
  assert.deepEqual(await statuses("node-a", "5Bob"), [404, 404, 429]);
  assert.deepEqual(await statuses("node-b", "5Alice"), [404, 404, 429]);
});

Deno.test("wallets a client-end invents share its one budget: the wallet header only splits it", async () => {
  const app = limitedApp("127.0.0.1");
  let allowed = 0;
  for (let index = 0; index < 100; index++) {
    const response = await app.fetch(
      new Request("http://node/api/v1/nothing", {
        headers: { "x-dbc-wallet": `5Invented${index}` },
      }),
      { remoteNode: "node-a" },
    );
    if (response.status !== 429) allowed++;
  }
  assert.equal(
    allowed,
    2 * REMOTE_NODE_RATE_FACTOR,
    "the client-end's budget, not 2 per invented wallet",
  );
  const other = await app.fetch(new Request("http://node/api/v1/nothing"), {
    remoteNode: "node-b",
  });
  assert.equal(other.status, 404, "another client-end has its own budget");
  const local = await app.request("/api/v1/nothing", {
    headers: { "x-forwarded-for": "198.51.100.1" },
  });
  assert.equal(local.status, 404);
});

Deno.test("a local client is known by its socket address, whatever forwarding header it sends", async () => {
  const app = limitedApp("192.0.2.9");
  const statuses = [];
  for (let index = 0; index < 3; index++) {
    const headers = { "x-forwarded-for": `198.51.100.${index}`, "x-real-ip": `203.0.113.${index}` };
    statuses.push((await app.request("/api/v1/nothing", { headers })).status);
  }
  assert.deepEqual(statuses, [404, 404, 429]);
});
