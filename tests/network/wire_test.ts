import assert from "node:assert/strict";
import {
  decodeWireMessage,
  encodeFrame,
  FrameDecoder,
  MAX_FRAME_BYTES,
  type WireMessage,
} from "../../network/mod.ts";

const ID_A = "12D3KooWLNDhWRc1VNwjKGS69Qbu2i4SVKh6aZW3HEc9T5pTGH5k";
const ID_B = "12D3KooWSaiejKDTySDyw9DvBuR7MZ2Vk5PVGVpxzCERGquaRuth";
const text = (value: string) => new TextEncoder().encode(value);

const bye: WireMessage = { t: "bye", reason: "shutdown" };
const peers: WireMessage = {
  t: "peers",
  peers: [{ id: ID_A, addr: "127.0.0.1:5001", role: "gpu", inc: 5, age: 0, n: true }],
  gone: [{ id: ID_B, inc: 3, age: 1200 }],
};

Deno.test("frames round-trip whole, split at any byte, and several in one chunk", () => {
  const frames = [encodeFrame(bye), encodeFrame(peers)];
  const stream = new Uint8Array(frames[0]!.length + frames[1]!.length);
  stream.set(frames[0]!);
  stream.set(frames[1]!, frames[0]!.length);
  for (let cut = 0; cut <= stream.length; cut++) {
    const decoder = new FrameDecoder();
    const first = decoder.push(stream.subarray(0, cut));
    const second = decoder.push(stream.subarray(cut));
    assert.ok(first.ok && second.ok);
    const messages = [...first.frames, ...second.frames].map((frame) => decodeWireMessage(frame));
    assert.deepEqual(messages, [{ ok: true, message: bye }, { ok: true, message: peers }]);
    assert.equal(decoder.buffered, 0);
  }
});

Deno.test("an oversize length prefix fails the stream before any of the frame is buffered", () => {
  const decoder = new FrameDecoder();
  // Varint for MAX_FRAME_BYTES + 1, then a little of the promised body.
  let value = MAX_FRAME_BYTES + 1;
  const prefix: number[] = [];
  while (value >= 0x80) {
    prefix.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 128);
  }
  prefix.push(value);
  const result = decoder.push(Uint8Array.from([...prefix, 1, 2, 3]));
  assert.equal(result.ok, false);
  assert.match(!result.ok ? result.reason : "", /exceeds/);
  assert.equal(decoder.buffered, 0);
  // Once failed, it stays failed.
  assert.equal(decoder.push(encodeFrame(bye)).ok, false);
});

Deno.test("a length prefix that never ends, or an empty frame, fails the stream", () => {
  assert.equal(new FrameDecoder().push(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff])).ok, false);
  assert.equal(new FrameDecoder().push(Uint8Array.from([0])).ok, false);
});

Deno.test("a frame trickled in a byte at a time is held only up to its declared size", () => {
  const decoder = new FrameDecoder(1000);
  const frame = encodeFrame({ t: "refuse", reason: "full", peers: [] });
  let largest = 0;
  for (let index = 0; index < frame.length - 1; index++) {
    assert.ok(decoder.push(frame.subarray(index, index + 1)).ok);
    largest = Math.max(largest, decoder.buffered);
  }
  assert.equal(largest, frame.length - 1);
  const last = decoder.push(frame.subarray(frame.length - 1));
  assert.ok(last.ok && last.frames.length === 1);
  assert.equal(decoder.buffered, 0);
});

Deno.test("garbage, wrong shapes and out-of-range fields are refused with a reason, never thrown", () => {
  const cases: Array<[string, RegExp]> = [
    ["\u0000\u0001not json", /not JSON/],
    ['{"t":"bye","reason":"because"}', /schema/],
    ['{"t":"nope"}', /schema/],
    ['{"t":"bye","reason":"shutdown","extra":1}', /schema/],
    ["[1,2,3]", /schema/],
    [`{"t":"peers","peers":[],"gone":[{"id":"${ID_B}","inc":-1,"age":0}]}`, /schema/],
    [
      `{"t":"peers","peers":[{"id":"not-an-id","addr":"1.2.3.4:5","role":"gpu","inc":1,"age":0}],"gone":[]}`,
      /schema/,
    ],
    [
      `{"t":"bcast","nonce":"AAAAAAAAAAAAAAAAAAAAAA==","origin":"${ID_A}","ts":1,"hops":99,"topic":"x","body":"{}","sig":"${
        "A".repeat(86)
      }=="}`,
      /schema/,
    ],
  ];
  for (const [input, reason] of cases) {
    const result = decodeWireMessage(text(input));
    assert.equal(result.ok, false, input);
    assert.match(!result.ok ? result.reason : "", reason);
  }
  const invalidUtf8 = decodeWireMessage(Uint8Array.from([0x7b, 0xff, 0xfe, 0x7d]));
  assert.equal(invalidUtf8.ok, false);
});

Deno.test("an exchange message carries at most its entry limit", () => {
  const many = Array.from({ length: 65 }, (_, index) => ({
    id: ID_A,
    addr: `10.0.0.${index % 250}:5001`,
    role: "gpu",
    inc: 1,
    age: 0,
  }));
  const result = decodeWireMessage(text(JSON.stringify({ t: "peers", peers: many, gone: [] })));
  assert.equal(result.ok, false);
});
