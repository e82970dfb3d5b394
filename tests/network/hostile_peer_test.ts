/**
 * One real node process against a peer that breaks the rules on purpose:
 * wrong network, bad key proof, garbage and oversize frames, a flood of
 * unique nonces, a flood of messages. The node refuses or disconnects, keeps
 * serving, and its caches and memory stay bounded.
 */
import assert from "node:assert/strict";
import type { Stream } from "@libp2p/interface";
import { type NetworkStatus, type NodeKeys } from "../../mod/mod.ts";
import {
  type Broadcast,
  broadcastSignedBytes,
  encodeBase64,
  encodeFrame,
  LINK_PROTOCOL,
  nodeAuthenticator,
} from "../../network/mod.ts";
import { Libp2pTransport, toMultiaddr } from "../../network/libp2p_node.ts";
import { scratchDir, waitFor } from "../helpers.ts";
import {
  mustGet,
  type NodeProcess,
  residentKiB,
  startNode,
  stopAll,
  whenUp,
} from "./node_processes.ts";
import { rawConnect, rawPeerNode } from "./raw_peer.ts";

const NETWORK = "p2p-hostile";
const NONCE_CACHE = 200;
const RATE = 300;

const client = rawPeerNode;

async function status(node: NodeProcess) {
  return await mustGet<NetworkStatus>(node, "/api/v1/peers/status");
}

/** Opens a raw link stream and sends `bytes`; resolves when the node has closed it. */
async function sendRaw(
  transport: Libp2pTransport,
  address: string,
  bytes: Uint8Array,
): Promise<void> {
  const connection = await transport.libp2p.dial(toMultiaddr(address));
  const stream: Stream = await connection.newStream(LINK_PROTOCOL);
  const closed = new Promise<void>((resolve) => stream.addEventListener("close", () => resolve()));
  stream.send(bytes);
  await Promise.race([
    closed,
    new Promise((_, reject) =>
      setTimeout(() => reject(new Error("the node kept the stream open")), 20_000)
    ),
  ]);
}

async function signedBroadcast(keys: NodeKeys, index: number): Promise<Broadcast> {
  const fields = {
    nonce: encodeBase64(crypto.getRandomValues(new Uint8Array(16))),
    origin: keys.nodeId,
    ts: Date.now(),
    topic: "test.flood",
    body: JSON.stringify({ index }),
  };
  const sig = await nodeAuthenticator(keys.privateKey).sign(broadcastSignedBytes(NETWORK, fields));
  return { t: "bcast", ...fields, hops: 4, sig: encodeBase64(sig) };
}

Deno.test({
  name:
    "a hostile peer is refused or cut off; the node keeps running with bounded caches and memory",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await scratchDir("p2p-hostile");
    const node = await startNode({
      name: "target",
      dataDir: `${dir}/target`,
      role: "seed",
      args: [
        "--network-id",
        NETWORK,
        "--p2p-nonce-cache-size",
        String(NONCE_CACHE),
        "--p2p-rate-limit-per-s",
        String(RATE),
        "--log-level",
        "error",
      ],
    });
    const clients: Libp2pTransport[] = [];
    const fresh = async () => {
      const made = await client();
      clients.push(made.transport);
      return made;
    };
    try {
      await whenUp(node);
      const hello = (made: Awaited<ReturnType<typeof client>>, extra = {}) =>
        rawConnect(made.transport, node.address, {
          selfId: made.keys.nodeId,
          auth: made.auth,
          networkId: NETWORK,
          now: Date.now(),
          ...extra,
        });

      // Another network, and a proof that does not match the key: refused.
      for (
        const [extra, reason] of [
          [{ fields: { net: "other-network" } }, "wrong_network"],
          [{
            tamper: (h: { proof: string }) => ({
              ...h,
              proof: encodeBase64(new Uint8Array(64).fill(1)),
            }),
          }, "bad_proof"],
        ] as const
      ) {
        const peer = await hello(await fresh(), extra);
        await peer.closed;
        assert.deepEqual(peer.received.map((m) => (m.t === "refuse" ? m.reason : m.t)), [reason]);
      }
      assert.ok((await status(node)).counters!.links_refused! >= 2);

      // Garbage, and a length prefix far over the frame limit: the node closes the stream.
      const before = (await status(node)).counters!.malformed_frames!;
      // Random bytes behind a short length prefix. (Raw random bytes may read as a prefix that
      // promises a frame of up to the limit, which the node rightly waits for.)
      const garbage = crypto.getRandomValues(new Uint8Array(4096));
      garbage[0] = 100;
      await sendRaw((await fresh()).transport, node.address, garbage);
      await sendRaw(
        (await fresh()).transport,
        node.address,
        Uint8Array.from([0xff, 0xff, 0xff, 0x7f, 1, 2, 3]),
      );
      const notJson = encodeFrame({ t: "bye", reason: "shutdown" });
      notJson.fill(0x20, 1);
      await sendRaw((await fresh()).transport, node.address, notJson);
      await waitFor(
        "malformed frames counted",
        async () =>
          (await status(node)).counters!.malformed_frames! >= before + 3 ? true : undefined,
      );

      // A flood of unique, validly signed nonces within the rate limit: the cache stays bounded.
      const flooder = await fresh();
      const peer = await hello(flooder);
      await waitFor("the flooder's handshake", () => peer.received.length > 0 ? true : undefined);
      assert.equal(peer.received[0]?.t, "hello");
      const rssBefore = await residentKiB(node.child.pid);
      const total = 1_500;
      for (let sent = 0; sent < total; sent += 100) {
        const batch = await Promise.all(
          Array.from({ length: 100 }, (_, index) => signedBroadcast(flooder.keys, sent + index)),
        );
        for (const message of batch) peer.send(message);
        // 250 a second: under the limit of 300.
        await new Promise((resolve) => setTimeout(resolve, 400));
      }
      const flooded = await waitFor("the flood processed", async () => {
        const now = await status(node);
        return now.counters!.broadcasts_delivered! >= total ? now : undefined;
      }, 60_000);
      assert.equal(peer.isClosed(), false, "a peer within its budget stays linked");
      assert.equal(flooded.nonce_cache!.size, NONCE_CACHE);
      assert.ok(flooded.nonce_cache!.evicted_early >= total - NONCE_CACHE);
      const rssAfter = await residentKiB(node.child.pid);
      console.log(
        `resident memory: ${rssBefore} KiB before, ${rssAfter} KiB after ${total} broadcasts`,
      );
      assert.ok(rssAfter - rssBefore < 96 * 1024, "memory did not grow without bound");

      // Far over the message budget: cut off. Cheap messages, sent for as long as the link stays
      // open: the node meets them as fast as it reads them, and a busy machine reads slower, so a
      // fixed count could fall inside the flood ceiling's burst. What counts is the rate it sees.
      await waitFor("the flooder cut off", async () => {
        if (peer.isClosed()) return true;
        for (let index = 0; index < RATE * 4; index++) {
          peer.send({ t: "peers", peers: [], gone: [] });
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
        return peer.isClosed() ? true : undefined;
      }, 60_000);
      const after = await status(node);
      assert.ok(after.counters!.rate_limited! >= 1);
      assert.ok(after.counters!.misbehaving_peers! >= 1);
      assert.equal(after.nonce_cache!.size, NONCE_CACHE);

      // Still serving.
      assert.equal(node.exited, false);
      assert.ok(await mustGet(node, "/api/v1/peers/active"));
    } finally {
      for (const transport of clients) await transport.stop().catch(() => {});
      await stopAll([node]);
    }
  },
});
