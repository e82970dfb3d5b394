/**
 * Server-sent events as a client reads them (the WHATWG event-stream format):
 * `event:`, `data:` (several lines joined with `\n`), `id:` and `retry:`
 * fields, comments starting with `:`, an event dispatched at each blank line.
 * The parser is pure and takes text in chunks cut anywhere, so it is tested
 * without a network; {@link readServerSentEvents} feeds it a response body.
 *
 * @example
 * ```ts
 * for await (const event of readServerSentEvents(response.body!)) console.log(event.event, event.data);
 * ```
 */

/** One dispatched event. `event` is `message` when the stream named none. */
export type ServerSentEvent = { event: string; data: string; id: string | undefined };

/** Turns event-stream text, pushed in arbitrary chunks, into events. */
export class ServerSentEventParser {
  #buffer = "";
  #event = "";
  #data: string[] = [];
  #id: string | undefined;
  #lastId: string | undefined;
  #sawBom = false;

  /** The events completed by `chunk`, in order. */
  push(chunk: string): ServerSentEvent[] {
    if (!this.#sawBom) {
      if (this.#buffer === "" && chunk === "") return [];
      this.#sawBom = true;
      if (chunk.startsWith("\uFEFF")) chunk = chunk.slice(1);
    }
    this.#buffer += chunk;
    const events: ServerSentEvent[] = [];
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.#buffer);
      // A lone trailing "\r" may be the first half of "\r\n": wait for more.
      if (!match || (match[0] === "\r" && match.index === this.#buffer.length - 1)) break;
      const line = this.#buffer.slice(0, match.index);
      this.#buffer = this.#buffer.slice(match.index + match[0].length);
      const event = this.#line(line);
      if (event) events.push(event);
    }
    return events;
  }

  /** The event left unterminated when the stream ended, if the stream ended mid-event. */
  end(): ServerSentEvent[] {
    const rest = this.#buffer;
    this.#buffer = "";
    const events: ServerSentEvent[] = [];
    if (rest !== "") {
      const event = this.#line(rest.replace(/\r$/, ""));
      if (event) events.push(event);
    }
    // The format drops an event that no blank line ended; a server that closes right after
    // its last `data:` line still meant it, so it is kept.
    const last = this.#dispatch();
    if (last) events.push(last);
    return events;
  }

  #line(line: string): ServerSentEvent | undefined {
    if (line === "") return this.#dispatch();
    if (line.startsWith(":")) return undefined;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "event":
        this.#event = value;
        break;
      case "data":
        this.#data.push(value);
        break;
      case "id":
        if (!value.includes("\0")) this.#id = value;
        break;
      default:
        // `retry` and unknown fields do not matter to a client that does not reconnect.
        break;
    }
    return undefined;
  }

  #dispatch(): ServerSentEvent | undefined {
    if (this.#id !== undefined) this.#lastId = this.#id;
    this.#id = undefined;
    const event = this.#event;
    this.#event = "";
    if (this.#data.length === 0) return undefined;
    const data = this.#data.join("\n");
    this.#data = [];
    return { event: event || "message", data, id: this.#lastId };
  }
}

/** The events of an event-stream body, as they arrive; ends when the body ends. */
export async function* readServerSentEvents(
  body: ReadableStream<Uint8Array>,
): AsyncGenerator<ServerSentEvent> {
  const parser = new ServerSentEventParser();
  // Typed as a transform of bytes to text: the DOM library types its writable side more loosely,
  // and the dashboard type-checks this file against it (http/ui/app/).
  const decoder = new TextDecoderStream() as TransformStream<Uint8Array, string>;
  const reader = body.pipeThrough(decoder).getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      yield* parser.push(value);
    }
    yield* parser.end();
  } finally {
    await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}
