/**
 * One WebSocket message per burst of sends, on the `ws` sockets under libp2p's
 * WebSockets transport.
 *
 * Why: libp2p's Noise layer hands each encrypted chunk to the connection as
 * two buffers (its 2-byte length, then the ciphertext), and the WebSockets
 * connection sends every buffer as a message of its own. A link message thus
 * cost two WebSocket frames, two socket writes and two receive events on the
 * other side, each one a system call and a wake-up of the peer. The bytes are
 * a stream to the layers above (Noise reads its own length prefixes), so the
 * buffers sent in one turn of the event loop can travel as one message: they
 * are queued and sent together from a microtask, in order.
 */
import type WebSocket from "ws";

type Send = WebSocket["send"];
type Close = WebSocket["close"];

/** Makes `socket` send the plain binary messages of one event-loop turn as one message. */
export function coalesceSends(socket: WebSocket): void {
  const send = socket.send.bind(socket) as (data: unknown, ...rest: unknown[]) => void;
  const close = socket.close.bind(socket) as Close;
  let queued: Uint8Array[] = [];
  const flush = () => {
    if (queued.length === 0) return;
    const parts = queued;
    queued = [];
    try {
      send(parts.length === 1 ? parts[0] : concat(parts));
    } catch {
      // A socket that closed meanwhile drops what is sent on it, as `ws` does itself; a
      // microtask must not throw.
    }
  };
  socket.send = ((data: unknown, ...rest: unknown[]) => {
    if (rest.length > 0 || !(data instanceof Uint8Array)) {
      // Options or a callback (not what libp2p sends): what is queued goes first, then this.
      flush();
      return send(data, ...rest);
    }
    if (queued.length === 0) queueMicrotask(flush);
    queued.push(data);
  }) as Send;
  socket.close = ((...args: Parameters<Close>) => {
    flush();
    return close(...args);
  }) as Close;
}

function concat(parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.byteLength;
  const joined = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.byteLength;
  }
  return joined;
}
