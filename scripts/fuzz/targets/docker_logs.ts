/**
 * A container's log stream as the engine sends it, multiplexed (an 8-byte
 * header per frame: stream, three zero bytes, big-endian length) or raw
 * (a TTY), valid, with bytes edited (lengths above all), or noise, cut into
 * chunks anywhere, read for its first or last lines. Contract: `LogCollector`
 * never throws; it keeps at most the lines asked for, none longer than its
 * line limit; a valid stream, however cut, gives back exactly its lines.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { LogCollector, MAX_LOG_LINE_BYTES } from "../../../node_service/container/docker/logs.ts";
import { chunked, mutatedBytes } from "../mutate.ts";
import { expect, type FuzzTarget } from "../target.ts";

type Line = { stream: "stdout" | "stderr"; text: string };
type Input = {
  lines: Line[];
  bytes: Uint8Array;
  intact: boolean;
  cuts: number[];
  query: { from: "head" | "tail"; lines: number };
};

const encoder = new TextEncoder();

/** One frame per line, as Docker writes them without a TTY. */
function multiplexed(lines: readonly Line[]): Uint8Array {
  const frames = lines.map((line) => {
    const payload = encoder.encode(`${line.text}\n`);
    const frame = new Uint8Array(8 + payload.length);
    frame[0] = line.stream === "stdout" ? 1 : 2;
    new DataView(frame.buffer).setUint32(4, payload.length);
    frame.set(payload, 8);
    return frame;
  });
  const all = new Uint8Array(frames.reduce((sum, frame) => sum + frame.length, 0));
  let offset = 0;
  for (const frame of frames) all.set(frame, offset), offset += frame.length;
  return all;
}

const lines = fc.array(
  fc.record({
    stream: fc.constantFrom("stdout" as const, "stderr" as const),
    text: fc.string({ maxLength: 60 }).map((text) => text.replace(/[\n\r]/g, " ")),
  }),
  { maxLength: 8 },
);

const inputs: fc.Arbitrary<Input> = lines.chain((valid) => {
  const bytes = multiplexed(valid);
  return fc.record({
    body: fc.oneof(
      { arbitrary: fc.constant({ bytes, intact: true }), weight: 3 },
      {
        arbitrary: mutatedBytes(fc.constant(bytes)).map((edited) => ({
          bytes: edited,
          intact: false,
        })),
        weight: 5,
      },
      {
        arbitrary: fc.uint8Array({ maxLength: 200 }).map((noise) => ({
          bytes: noise,
          intact: false,
        })),
        weight: 2,
      },
    ),
    cuts: fc.array(fc.nat(), { maxLength: 8 }),
    query: fc.record({
      from: fc.constantFrom("head" as const, "tail" as const),
      lines: fc.integer({ min: 1, max: 10 }),
    }),
  }).map(({ body, ...rest }) => ({ lines: valid, ...body, ...rest }));
});

export const target: FuzzTarget<Input> = {
  name: "docker.logs",
  about: "LogCollector never throws, keeps only what was asked, and reads a valid stream exactly",
  property: () => ({
    arbitrary: inputs,
    check: ({ lines, bytes, intact, cuts, query }) => {
      const collector = new LogCollector(query);
      for (const chunk of chunked(bytes, cuts)) {
        if (!collector.push(chunk)) break;
      }
      const result = collector.finish();
      expect(result.lines.length <= query.lines, `${result.lines.length} lines for ${query.lines}`);
      for (const line of result.lines) {
        expect(line.stream === "stdout" || line.stream === "stderr", `stream ${line.stream}`);
        expect(line.text.length <= MAX_LOG_LINE_BYTES, `a line of ${line.text.length} characters`);
      }
      if (!intact) return;
      const expected = query.from === "head"
        ? lines.slice(0, query.lines)
        : lines.slice(-query.lines);
      assert.deepEqual(result.lines, expected.map((line) => ({ ...line })));
    },
  }),
};
