/**
 * Direct ports between workers. Once two workers are both running, the
 * supervisor hands each one end of a `MessageChannel` (`link`), and their
 * requests and responses go on it instead of through the main thread: one
 * message and one thread wake-up per crossing instead of two, which is most
 * of what a worker-to-worker call costs (a renter request routed through a
 * client-end crosses between workers four times on each node).
 *
 * The main thread stays in charge: it makes the links, and says when a worker
 * stops or dies (`unlink`), so that calls waiting for it fail at once (the
 * runtime fails them) and new ones go through the main thread again, which
 * refuses them until the worker is back. What arrives on a port is checked as
 * what arrives from the main thread is: the envelope's schema, and a sender
 * that is the worker at the other end.
 *
 * @example
 * ```ts
 * const links = new WorkerLinks({ self: "http", toMain: post, receive: (m) => rpc.receive(m) });
 * links.link("network", port); // from the supervisor's `link` message
 * links.send(request);         // on the port when there is one, else through main
 * ```
 */
import {
  decodeMessage,
  type RpcMessage,
  RpcMessageSchema,
  type WorkerName,
} from "./schemas/mod.ts";

export type WorkerLinksOptions = {
  self: WorkerName;
  /** Sends through the main thread (the hub). */
  toMain: (message: RpcMessage) => void;
  /** Hands a checked message from a linked worker to this worker's RPC peer. */
  receive: (message: RpcMessage) => void;
  /** Told about a message on a port that is not a well-formed envelope from the worker there. */
  onDropped?: (peer: WorkerName) => void;
};

export class WorkerLinks {
  #options: WorkerLinksOptions;
  #ports = new Map<WorkerName, MessagePort>();
  /** Requests that came on a port, as `from|id`: their responses go back on the same port. */
  #cameOnPort = new Set<string>();

  constructor(options: WorkerLinksOptions) {
    this.#options = options;
  }

  /** Workers this one has a port to. */
  get peers(): WorkerName[] {
    return [...this.#ports.keys()];
  }

  /** A port to `peer`, replacing any earlier one (a worker that restarted). */
  link(peer: WorkerName, port: MessagePort): void {
    this.unlink(peer);
    this.#ports.set(peer, port);
    port.onmessage = (event) => this.#onPortMessage(peer, port, event.data);
  }

  /**
   * `peer` stopped or died: its port is closed. Responses still owed to it are dropped when they
   * are sent (its calls failed with it), not sent through main.
   */
  unlink(peer: WorkerName): void {
    const port = this.#ports.get(peer);
    if (!port) return;
    this.#ports.delete(peer);
    port.onmessage = null;
    port.close();
  }

  /** Sends `message` on the port to its addressee when there is one, else through main. */
  send(message: RpcMessage): void {
    if (message.kind === "response") {
      // A response goes back the way its request came, so the hub's record of a request it
      // routed is cleared by the response it routes back.
      if (!this.#cameOnPort.delete(`${message.to}|${message.id}`)) {
        return this.#options.toMain(message);
      }
      // The requester's port is gone (it stopped or died): nobody waits for this any more.
      this.#portTo(message.to)?.postMessage(message);
      return;
    }
    const port = this.#portTo(message.to);
    if (port) port.postMessage(message);
    else this.#options.toMain(message);
  }

  /** Closes every port (the worker is stopping). */
  close(): void {
    for (const peer of [...this.#ports.keys()]) this.unlink(peer);
  }

  #portTo(party: RpcMessage["to"]): MessagePort | undefined {
    return party === "main" ? undefined : this.#ports.get(party);
  }

  #onPortMessage(peer: WorkerName, port: MessagePort, data: unknown): void {
    if (this.#ports.get(peer) !== port) return; // A port replaced meanwhile.
    const message = decodeMessage(RpcMessageSchema, data);
    if (!message || message.from !== peer || message.to !== this.#options.self) {
      return this.#options.onDropped?.(peer);
    }
    if (message.kind === "request") this.#cameOnPort.add(`${message.from}|${message.id}`);
    this.#options.receive(message);
  }
}
