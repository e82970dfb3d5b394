/**
 * A small JSON-RPC 2.0 client over one WebSocket, as Substrate nodes serve
 * it: request ids, a time-out per call, at most one connection (opened on
 * first use, opened again after it drops), and every reply treated as
 * untrusted (size bound, shape checked).
 *
 * @example
 * ```ts
 * const rpc = new JsonRpcWebSocket("ws://127.0.0.1:9944", { timeoutMs: 10_000 });
 * const hash = await rpc.call("chain_getBlockHash", []);
 * rpc.close();
 * ```
 */
import { z } from "zod";

/** The largest reply accepted; storage reads here are a few hundred bytes. */
export const MAX_JSON_RPC_REPLY_BYTES = 4 * 1024 * 1024;

/** A call that failed: no connection, time-out, an error answer, or a reply that makes no sense. */
export class JsonRpcError extends Error {
  constructor(readonly kind: "unreachable" | "timeout" | "error" | "bad_reply", message: string) {
    super(message);
    this.name = "JsonRpcError";
  }
}

const ReplySchema = z.union([
  z.object({ jsonrpc: z.literal("2.0"), id: z.number(), result: z.unknown() }),
  z.object({
    jsonrpc: z.literal("2.0"),
    id: z.number().nullable(),
    error: z.object({ code: z.number(), message: z.string() }),
  }),
]);

type Pending = {
  resolve: (value: unknown) => void;
  reject: (error: JsonRpcError) => void;
  timer: ReturnType<typeof setTimeout>;
};

export type JsonRpcOptions = { timeoutMs: number };

export class JsonRpcWebSocket {
  readonly url: string;
  readonly #timeoutMs: number;
  #socket: Promise<WebSocket> | undefined;
  #pending = new Map<number, Pending>();
  #nextId = 1;
  #closed = false;

  constructor(url: string, options: JsonRpcOptions) {
    this.url = url;
    this.#timeoutMs = options.timeoutMs;
  }

  /** Sends `method` and resolves with its `result`, or rejects with a {@link JsonRpcError}. */
  async call(method: string, params: unknown[]): Promise<unknown> {
    if (this.#closed) throw new JsonRpcError("unreachable", "the client is closed");
    const socket = await this.#connect();
    const id = this.#nextId++;
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new JsonRpcError("timeout", `${method}: no answer within ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      try {
        socket.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
      } catch (error) {
        this.#settle(id, new JsonRpcError("unreachable", `${method}: ${(error as Error).message}`));
      }
    });
  }

  close(): void {
    this.#closed = true;
    this.#failAll(new JsonRpcError("unreachable", "the client is closed"));
    void this.#socket?.then((socket) => socket.close()).catch(() => undefined);
    this.#socket = undefined;
  }

  #connect(): Promise<WebSocket> {
    this.#socket ??= new Promise<WebSocket>((resolve, reject) => {
      let socket: WebSocket;
      try {
        socket = new WebSocket(this.url);
      } catch (error) {
        this.#socket = undefined;
        return reject(new JsonRpcError("unreachable", `${this.url}: ${(error as Error).message}`));
      }
      const timer = setTimeout(() => {
        socket.close();
        fail(`${this.url}: no connection within ${this.#timeoutMs} ms`);
      }, this.#timeoutMs);
      const fail = (why: string) => {
        clearTimeout(timer);
        this.#socket = undefined;
        reject(new JsonRpcError("unreachable", why));
      };
      socket.onopen = () => {
        clearTimeout(timer);
        resolve(socket);
      };
      socket.onerror = () => fail(`${this.url}: connection failed`);
      socket.onclose = () => {
        clearTimeout(timer);
        this.#socket = undefined;
        this.#failAll(new JsonRpcError("unreachable", `${this.url}: connection closed`));
      };
      socket.onmessage = (event) => this.#receive(event.data);
    });
    return this.#socket;
  }

  #receive(data: unknown): void {
    if (typeof data !== "string" || data.length > MAX_JSON_RPC_REPLY_BYTES) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      return;
    }
    const reply = ReplySchema.safeParse(parsed);
    if (!reply.success || reply.data.id === null) return;
    if ("error" in reply.data) {
      const { code, message } = reply.data.error;
      this.#settle(reply.data.id, new JsonRpcError("error", `JSON-RPC error ${code}: ${message}`));
    } else {
      this.#settle(reply.data.id, undefined, reply.data.result);
    }
  }

  #settle(id: number, error: JsonRpcError | undefined, result?: unknown): void {
    const pending = this.#pending.get(id);
    if (!pending) return;
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    if (error) pending.reject(error);
    else pending.resolve(result);
  }

  #failAll(error: JsonRpcError): void {
    for (const id of [...this.#pending.keys()]) this.#settle(id, error);
  }
}
