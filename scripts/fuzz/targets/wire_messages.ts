/**
 * `decodeWireMessage` on one frame's bytes: valid messages of every kind,
 * the same with fields dropped, retyped or stretched past their bounds,
 * their JSON text with bytes edited (broken UTF-8 included), and noise.
 * Contract: it returns a result, never throws; what it accepts passes
 * `WireMessageSchema` and survives being sent on (encoded again and decoded,
 * it is the same message); every valid message is accepted as it was.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  decodeWireMessage,
  encodeFrame,
  FrameDecoder,
  type WireMessage,
  WireMessageSchema,
} from "../../../network/mod.ts";
import { type Json, mutatedBytes, mutatedJson } from "../mutate.ts";
import { expect, type FuzzTarget } from "../target.ts";
import { wireMessages } from "../wire_arbitraries.ts";

type Input = { bytes: Uint8Array; valid?: WireMessage };

const encoder = new TextEncoder();
const text = (value: unknown) => encoder.encode(JSON.stringify(value));

const inputs: fc.Arbitrary<Input> = fc.oneof(
  { arbitrary: wireMessages(true).map((valid) => ({ bytes: text(valid), valid })), weight: 2 },
  {
    arbitrary: mutatedJson(wireMessages() as fc.Arbitrary<Json>).map((value) => ({
      bytes: text(value),
    })),
    weight: 5,
  },
  { arbitrary: mutatedBytes(wireMessages().map(text)).map((bytes) => ({ bytes })), weight: 2 },
  { arbitrary: fc.uint8Array({ maxLength: 200 }).map((bytes) => ({ bytes })), weight: 1 },
);

export const target: FuzzTarget<Input> = {
  name: "wire.messages",
  about: "decodeWireMessage returns a result, never throws; what it accepts is a message",
  property: () => ({
    arbitrary: inputs,
    check: ({ bytes, valid }) => {
      const result = decodeWireMessage(bytes);
      if (valid) {
        expect(result.ok, () => `a valid message was refused: ${!result.ok && result.reason}`);
      }
      if (!result.ok) {
        expect(typeof result.reason === "string" && result.reason !== "", "no reason given");
        return;
      }
      expect(WireMessageSchema.safeParse(result.message).success, "accepted a non-message");
      if (valid) assert.deepEqual(result.message, JSON.parse(JSON.stringify(valid)));
      // Sent on as it was received: the frame it becomes must decode to the same message.
      const frames = new FrameDecoder(Number.MAX_SAFE_INTEGER).push(encodeFrame(result.message));
      expect(frames.ok && frames.frames.length === 1, "its frame does not split back out");
      const again = decodeWireMessage(frames.frames[0]!);
      expect(again.ok, () => `sent on, it is refused: ${!again.ok && again.reason}`);
      assert.deepEqual(again.message, result.message);
    },
  }),
};
