/**
 * The WebSockets transport, dialling with the `ws` package instead of the
 * runtime's built-in `WebSocket`.
 *
 * Why: Deno's built-in client leaves Nagle's algorithm on, and libp2p sends a
 * message as several WebSocket frames (Yamux header, then the Noise-sealed
 * body). The second small write waits for the ACK of the first, which the
 * receiver delays by up to 40 ms: every round trip on an outbound link cost
 * about 45 ms on loopback. `ws` sets TCP_NODELAY (as its server side, which
 * the listener already uses, does), and the same round trip takes well under
 * a millisecond.
 */
import type { Multiaddr } from "@multiformats/multiaddr";
import { multiaddrToUri } from "@multiformats/multiaddr-to-uri";
import { webSockets } from "@libp2p/websockets";
import WebSocket, { type WebSocketServer } from "ws";
import { coalesceSends } from "./ws_coalesce.ts";

type Transport = ReturnType<ReturnType<typeof webSockets>>;
type ConnectOptions = { signal?: AbortSignal };
/** The dial step of the transport, which this module replaces. */
type Connecting = { _connect(ma: Multiaddr, options: ConnectOptions): Promise<unknown> };

/** Told the local IP of every outbound socket once it is open (NAT detection, nat.ts). */
export type OnLocalHost = (host: string) => void;

/** Opens a WebSocket with `ws`; resolves once open, rejects on error or abort. */
export function openWebSocket(
  uri: string,
  signal?: AbortSignal,
  onLocalHost?: OnLocalHost,
): Promise<WebSocket> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  const socket = new WebSocket(uri, { perMessageDeflate: false });
  socket.binaryType = "arraybuffer";
  return new Promise((resolve, reject) => {
    const fail = (error: unknown) => {
      cleanup();
      // Ending a socket still connecting emits one more error; it is this one, already reported.
      socket.on("error", () => {});
      socket.terminate();
      reject(error instanceof Error ? error : new Error(`cannot connect to ${uri}`));
    };
    const onAbort = () => fail(signal?.reason ?? new Error("dial aborted"));
    const onError = (event: { error?: unknown; message?: string }) =>
      fail(event.error ?? new Error(`cannot connect to ${uri}: ${event.message ?? "error"}`));
    const onOpen = () => {
      cleanup();
      // `ws` keeps the TCP socket as `_socket`; without it, NAT detection just learns less.
      const local = (socket as unknown as { _socket?: { localAddress?: string } })._socket
        ?.localAddress;
      if (local) onLocalHost?.(local.replace(/^::ffff:/, ""));
      resolve(socket);
    };
    const cleanup = () => {
      socket.removeEventListener("open", onOpen);
      socket.removeEventListener("error", onError);
      signal?.removeEventListener("abort", onAbort);
    };
    socket.addEventListener("open", onOpen);
    socket.addEventListener("error", onError);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * `webSockets()` from @libp2p/websockets, with its dialling done by {@link openWebSocket}, and
 * every socket, dialled or accepted, sending a turn's buffers as one message (ws_coalesce.ts).
 */
export function webSocketsWithNoDelay(onLocalHost?: OnLocalHost): (
  components: Parameters<ReturnType<typeof webSockets>>[0],
) => Transport {
  const factory = webSockets();
  return (components) => {
    const transport = factory(components);
    // The dial step is the transport's own method; a version without it would quietly dial with
    // the built-in client again, so say so at once instead.
    if (typeof (transport as unknown as Partial<Connecting>)._connect !== "function") {
      throw new Error("@libp2p/websockets has no _connect to replace: see network/ws_dialer.ts");
    }
    (transport as unknown as Connecting)._connect = async (ma, options) => {
      const socket = await openWebSocket(multiaddrToUri(ma), options?.signal, onLocalHost);
      coalesceSends(socket);
      return socket;
    };
    const createListener = transport.createListener.bind(transport);
    transport.createListener = (options) => {
      const listener = createListener(options);
      // The listener's own `ws` server, which hands it each accepted socket (and hands it to
      // us after, before anything is sent on it: the dialler speaks first).
      const server = (listener as unknown as { wsServer?: Partial<WebSocketServer> }).wsServer;
      if (typeof server?.on !== "function") {
        throw new Error("@libp2p/websockets has no wsServer to watch: see network/ws_dialer.ts");
      }
      server.on("connection", (socket: WebSocket) => coalesceSends(socket));
      return listener;
    };
    return transport;
  };
}
