/**
 * Yamux window updates at half the window (network/yamux_window.ts), between two real libp2p
 * transports on loopback: a burst under half the window costs the receiver no update at all,
 * and a transfer many windows long arrives whole and in order (flow control still works).
 */
import assert from "node:assert/strict";
import { YamuxStream } from "@chainsafe/libp2p-yamux/stream";
import { generateNodeKeys, silentLogger } from "../../mod/mod.ts";
import { Libp2pTransport } from "../../network/libp2p_node.ts";
import type { Link, WireMessage } from "../../network/mod.ts";
import { freePort, waitFor } from "../helpers.ts";

// Counts the calls the half-window rule lets through to the library (installed when the first
// transport starts, it wraps whatever the prototype holds then: this spy).
const prototype = YamuxStream.prototype as unknown as { sendWindowUpdate: () => void };
const library = prototype.sendWindowUpdate;
let forwarded = 0;
prototype.sendWindowUpdate = function (this: unknown) {
  forwarded++;
  return library.call(this);
};

async function transport(onInbound: (link: Link) => void = (link) => link.close()) {
  const keys = generateNodeKeys();
  const port = freePort();
  const started = await Libp2pTransport.start({
    seed: keys.privateKey,
    publicKey: keys.publicKey,
    nodeId: keys.nodeId,
    listenHost: "127.0.0.1",
    listenPort: port,
    maxConnections: 8,
    log: silentLogger,
    // The test sends faster than a peer may by default.
    rateLimitBytesPerS: 64 * 1024 * 1024,
    onInbound,
  });
  return { transport: started, address: `127.0.0.1:${port}`, id: keys.nodeId };
}

function call(index: number, padBytes: number): WireMessage {
  return {
    t: "call",
    q: String(index).padStart(8, "0"),
    net: "test",
    port: 1,
    wait: 1_000,
    p: { type: "app", topic: "test.bytes", body: { index, pad: "x".repeat(padBytes) } },
  } as WireMessage;
}

Deno.test({
  name:
    "yamux tops a stream's window up once half is used: none for a small burst, and a long transfer arrives whole",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const received: number[] = [];
    const receiver = await transport((link) =>
      link.attach({
        message: (message) => {
          if (message.t === "call" && message.p.type === "app") {
            received.push((message.p.body as { index: number }).index);
          }
        },
        malformed: () => {},
        closed: () => {},
      })
    );
    const sender = await transport();
    try {
      const link = await sender.transport.dial(receiver.address, receiver.id, 10_000);
      link.attach({ message: () => {}, malformed: () => {}, closed: () => {} });
      link.send(call(0, 10));
      await waitFor("the link to open", () => Promise.resolve(received.length === 1 || undefined));

      // 100 KiB, under half the initial 256 KiB window: not one update (the library sent 100).
      const before = forwarded;
      for (let index = 1; index <= 100; index++) link.send(call(index, 1_000));
      await waitFor("the burst", () => Promise.resolve(received.length === 101 || undefined));
      assert.equal(forwarded - before, 0, "window updates for a burst under half the window");

      // 8 MiB, many windows long: every message arrives, in order. The sender stays within
      // 1 MiB of the receiver, well under the link's send buffer, as a node's own traffic does.
      const total = 8 * 1024;
      const ahead = 1_024;
      for (let index = 101; index < 101 + total; index++) {
        if (index - received.length > ahead) {
          await waitFor(
            "the receiver to catch up",
            () => Promise.resolve(index - received.length <= ahead / 2 || undefined),
            30_000,
          );
        }
        assert.ok(link.send(call(index, 1_000)), `message ${index} refused`);
      }
      await waitFor(
        "the transfer",
        () => Promise.resolve(received.length === 101 + total || undefined),
        60_000,
      );
      assert.deepEqual(received, Array.from({ length: 101 + total }, (_, index) => index));
      assert.ok(forwarded - before <= 128, `${forwarded - before} updates for 8 MiB`);
      link.close();
    } finally {
      await sender.transport.stop();
      await receiver.transport.stop();
    }
  },
});
