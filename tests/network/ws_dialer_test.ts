/** The transport's own dialler: opens, fails clearly on a closed port, and honours an abort. */
import assert from "node:assert/strict";
import { WebSocketServer } from "ws";
import { openWebSocket } from "../../network/ws_dialer.ts";
import { freePort } from "../helpers.ts";

Deno.test("openWebSocket opens a binary socket, rejects a closed port, and stops when aborted", async () => {
  const port = freePort();
  const server = new WebSocketServer({ host: "127.0.0.1", port });
  await new Promise((resolve) => server.once("listening", resolve));
  const received = new Promise<Uint8Array>((resolve) =>
    server.once(
      "connection",
      (socket) => socket.once("message", (data) => resolve(data as Uint8Array)),
    )
  );
  try {
    const socket = await openWebSocket(`ws://127.0.0.1:${port}`);
    assert.equal(socket.binaryType, "arraybuffer");
    socket.send(new Uint8Array([1, 2, 3]));
    assert.deepEqual([...await received], [1, 2, 3]);
    socket.close();

    await assert.rejects(openWebSocket(`ws://127.0.0.1:${freePort()}`));
    const aborted = new AbortController();
    aborted.abort(new Error("gave up"));
    await assert.rejects(openWebSocket(`ws://127.0.0.1:${port}`, aborted.signal), /gave up/);
    // An abort during the opening handshake ends the dial too.
    const late = new AbortController();
    const dial = openWebSocket("ws://192.0.2.1:9", late.signal);
    late.abort(new Error("too slow"));
    await assert.rejects(dial, /too slow/);
  } finally {
    for (const client of server.clients) client.terminate();
    await new Promise((resolve) => server.close(resolve));
  }
});
