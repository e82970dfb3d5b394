/**
 * The worker side of the supervisor protocol. A worker module calls
 * {@link runWorker} once with a start function; the runtime waits for the
 * `init` message, starts the worker, answers its requests through an
 * {@link RpcPeer}, and stops it on `shutdown`. Every incoming message is
 * checked against {@link MainToWorkerSchema} first; anything else is dropped.
 * Calls between workers go on the direct ports the supervisor links
 * (worker_links.ts), through the main thread until then.
 *
 * @example
 * ```ts
 * runWorker("network", async ({ log }) => {
 *   log.info("network up");
 *   return { handlers: { "network.status": () => ({ listening: [], connected_peers: 0 }) }, stop: () => {} };
 * });
 * ```
 */
import { type Clock, systemClock } from "./clock.ts";
import { createLogger, type Logger } from "./log.ts";
import {
  decodeMessage,
  MainToWorkerSchema,
  RpcError,
  type WorkerInit,
  type WorkerName,
  type WorkerToMain,
} from "./schemas/mod.ts";
import { type Handlers, RpcPeer } from "./rpc.ts";
import { WorkerLinks } from "./worker_links.ts";

export type WorkerContext<W extends WorkerName> = {
  name: W;
  init: WorkerInit;
  log: Logger;
  clock: Clock;
  /** Calls other parties; answers come back through the main thread. */
  call: RpcPeer<W>["call"];
};

export type RunningWorker<W extends WorkerName> = {
  handlers: Handlers<W>;
  /** Releases what the worker holds (databases, sockets); awaited before `stopped` is reported. */
  stop(): Promise<void> | void;
};

type WorkerScope = {
  postMessage(message: WorkerToMain): void;
  addEventListener(type: "message", listener: (event: MessageEvent) => void): void;
  close(): void;
};

export function runWorker<W extends WorkerName>(
  name: W,
  start: (context: WorkerContext<W>) => Promise<RunningWorker<W>> | RunningWorker<W>,
): void {
  const scope = globalThis as unknown as WorkerScope;
  const post = (message: WorkerToMain) => scope.postMessage(message);
  let peer: RpcPeer<W> | undefined;
  let running: RunningWorker<W> | undefined;
  let log: Logger = createLogger({ level: "info", format: "text", component: name });
  let stopping = false;
  // Calls to other workers go on a direct port once the supervisor has linked the two.
  const links = new WorkerLinks({
    self: name,
    toMain: post,
    receive: (message) => {
      if (peer && !stopping) peer.receive(message);
    },
    onDropped: (from) => log.warn("dropped a malformed message on a worker link", { from }),
  });

  scope.addEventListener("message", async (event) => {
    const message = decodeMessage(MainToWorkerSchema, event.data);
    if (!message) {
      log.warn("dropped a message that matches no known shape");
      return;
    }
    switch (message.kind) {
      case "init": {
        if (peer) return log.warn("ignored a second init");
        const init = message.init as WorkerInit;
        log = createLogger({
          level: init.config.log_level,
          format: init.config.log_format,
          component: name,
        });
        const handlers = {} as Handlers<W>;
        const rpc = new RpcPeer<W>({
          self: name,
          send: (message) => links.send(message),
          handlers,
          defaultTimeoutMs: init.config.request_timeout_ms,
          onHandlerBug: (method, error) =>
            log.error("handler failed", { method, error: String(error) }),
        });
        peer = rpc;
        try {
          running = await start({ name, init, log, clock: systemClock, call: rpc.call.bind(rpc) });
        } catch (error) {
          log.error("start failed", { error: (error as Error).message });
          post({ kind: "init_failed", message: (error as Error).message });
          return;
        }
        Object.assign(handlers, running.handlers);
        post({ kind: "ready" });
        return;
      }
      case "shutdown": {
        if (stopping) return;
        stopping = true;
        peer?.close(`${name} is shutting down: ${message.reason}`);
        try {
          await running?.stop();
        } catch (error) {
          log.error("stop failed", { error: (error as Error).message });
        }
        links.close();
        post({ kind: "stopped" });
        scope.close();
        return;
      }
      case "link":
        links.link(message.peer, message.port);
        return;
      case "unlink":
        links.unlink(message.peer);
        // Calls that went on the port are answered by nobody now; the main thread answers
        // those it routed itself.
        peer?.failPendingTo(
          message.peer,
          new RpcError("unavailable", `${message.peer} ${message.reason}`),
        );
        return;
      case "request":
      case "response":
        if (!peer || stopping) return;
        peer.receive(message);
        return;
    }
  });
}
