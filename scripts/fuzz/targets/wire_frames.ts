/**
 * `FrameDecoder` on a byte stream cut anywhere: valid frames, frames with
 * edited bytes (length prefixes above all), and noise. Contract: `push`
 * never throws; a failed stream stays failed; no more than one frame's
 * bytes are held (the limit plus a 4-byte prefix), whatever the prefix
 * claims; every frame is 1 to the limit bytes; a valid stream, however cut,
 * gives back exactly its frames, and each decodes to its message.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  decodeWireMessage,
  encodeFrame,
  FrameDecoder,
  MAX_FRAME_BYTES,
  type WireMessage,
} from "../../../network/mod.ts";
import { chunked, mutatedBytes } from "../mutate.ts";
import { expect, type FuzzTarget } from "../target.ts";
import { wireMessages } from "../wire_arbitraries.ts";

/** A small limit now and then, so frames over it are common. */
const SMALL_LIMIT = 96;

type Input = {
  messages: WireMessage[];
  stream: Uint8Array;
  intact: boolean;
  cuts: number[];
  limit: number;
};

const encoder = new TextEncoder();
const bodyBytes = (message: WireMessage) => encoder.encode(JSON.stringify(message)).length;

const concat = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) out.set(part, offset), offset += part.length;
  return out;
};

const streams: fc.Arbitrary<Input> = fc.array(wireMessages(), { maxLength: 4 }).chain(
  (messages) => {
    const valid = concat(messages.map(encodeFrame));
    const body = fc.oneof(
      { arbitrary: fc.constant({ stream: valid, intact: true }), weight: 3 },
      {
        arbitrary: mutatedBytes(fc.constant(valid), 3).map((stream) => ({ stream, intact: false })),
        weight: 5,
      },
      {
        arbitrary: fc.uint8Array({ maxLength: 300 }).map((stream) => ({ stream, intact: false })),
        weight: 2,
      },
    );
    return fc.record({
      body,
      cuts: fc.array(fc.nat(), { maxLength: 8 }),
      limit: fc.constantFrom(MAX_FRAME_BYTES, SMALL_LIMIT),
    }).map(({ body, ...rest }) => ({ messages, ...body, ...rest }));
  },
);

export const target: FuzzTarget<Input> = {
  name: "wire.frames",
  about: "FrameDecoder never throws, holds at most one frame, gives back a valid stream's frames",
  property: () => ({
    arbitrary: streams,
    check: ({ messages, stream, intact, cuts, limit }) => {
      const decoder = new FrameDecoder(limit);
      const frames: Uint8Array[] = [];
      let failedAt: string | undefined;
      for (const chunk of chunked(stream, cuts)) {
        const result = decoder.push(chunk);
        expect(decoder.buffered <= limit + 4, `holds ${decoder.buffered} bytes, limit ${limit}`);
        if (!result.ok) {
          expect(typeof result.reason === "string", "a failure without a reason");
          failedAt ??= result.reason;
          continue;
        }
        expect(failedAt === undefined, "a failed stream went on decoding");
        for (const frame of result.frames) {
          expect(frame.length >= 1 && frame.length <= limit, `a frame of ${frame.length} bytes`);
          frames.push(frame);
        }
      }
      const decoded = frames.map((frame) => decodeWireMessage(frame));
      if (!intact) return;
      const fits = messages.every((message) => bodyBytes(message) <= limit);
      if (!fits) {
        expect(failedAt !== undefined, "a frame over the limit was not refused");
        return;
      }
      expect(failedAt === undefined, () => `a valid stream failed: ${failedAt}`);
      expect(decoder.buffered === 0, `${decoder.buffered} bytes left of a whole stream`);
      assert.deepEqual(
        decoded.map((result) => (result.ok ? result.message : result.reason)),
        messages.map((message) => JSON.parse(JSON.stringify(message))),
      );
    },
  }),
};
