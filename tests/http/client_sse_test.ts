/** The event-stream parser on text cut at every possible place, and the format's corner cases. */
import assert from "node:assert/strict";
import { readServerSentEvents, ServerSentEventParser } from "../../http/mod.ts";

const STREAM = [
  ": a comment, ignored\r\n",
  "retry: 1000\r\n",
  "\r\n",
  "id: 1\r\n",
  "event: progress\r\n",
  'data: {"step":"copy"}\r\n',
  "\r\n",
  "data: line one\n",
  "data:line two\n",
  "\n",
  "id: 3\r",
  "event: done\r",
  "data: {}\r",
  "\r",
].join("");

Deno.test("events come out the same however the text is cut", () => {
  const expected = [
    { event: "progress", data: '{"step":"copy"}', id: "1" },
    // No id of its own: the last one seen still applies.
    { event: "message", data: "line one\nline two", id: "1" },
    { event: "done", data: "{}", id: "3" },
  ];
  for (let cut = 0; cut <= STREAM.length; cut++) {
    const parser = new ServerSentEventParser();
    const events = [...parser.push(STREAM.slice(0, cut)), ...parser.push(STREAM.slice(cut))];
    events.push(...parser.end());
    assert.deepEqual(events, expected, `cut at ${cut}`);
  }
  // One character at a time, with a byte-order mark in front.
  const parser = new ServerSentEventParser();
  const events = [..."\uFEFF" + STREAM].flatMap((char) => parser.push(char));
  assert.deepEqual([...events, ...parser.end()], expected);
});

Deno.test("an event without data is not dispatched; a last event without a blank line is kept at the end", () => {
  const parser = new ServerSentEventParser();
  assert.deepEqual(parser.push("event: ping\n\nid: 7\n\n"), []);
  assert.deepEqual(parser.push("event: done\ndata: x"), []);
  assert.deepEqual(parser.end(), [{ event: "done", data: "x", id: "7" }]);
});

Deno.test("readServerSentEvents decodes a byte stream split inside a multi-byte character", async () => {
  const bytes = new TextEncoder().encode("data: größe ✓\n\n");
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const byte of bytes) controller.enqueue(Uint8Array.of(byte));
      controller.close();
    },
  });
  const events = [];
  for await (const event of readServerSentEvents(body)) events.push(event);
  assert.deepEqual(events, [{ event: "message", data: "größe ✓", id: undefined }]);
});
