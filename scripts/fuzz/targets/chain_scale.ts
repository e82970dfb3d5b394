/**
 * What a Substrate node answers, as the GPU node reads it under
 * `verification_service=substrate` (node_service/chain/): SCALE values of
 * rent orders, rent details, machine infos and time stamps, valid (encoded
 * here from the chain's types), with bytes edited, or any text; and the
 * whole lease question over a stand-in JSON-RPC whose every answer (block
 * hash, header, storage) may be valid, edited, null or anything.
 *
 * Contract: the decoders return the values encoded, or throw a ScaleError,
 * nothing else; `leaseStatus` and `machineStatus` resolve with an answer of
 * their schema or reject with the chain client's own errors (ScaleError, a
 * schema's ZodError, a plain Error that says what is missing), never a
 * TypeError or RangeError from deep inside.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { z } from "zod";
import { encodeSs58, LeaseStatusSchema } from "../../../mod/mod.ts";
import { SubstrateVerification } from "../../../node_service/chain/mod.ts";
import type { JsonRpcWebSocket } from "../../../node_service/chain/json_rpc_ws.ts";
import {
  decodeMachineStatus,
  decodeRentedOrders,
  decodeRentOrderDetail,
  decodeU64,
  MACHINE_STATUS_VARIANTS,
  parseBlockNumber,
  RENT_STATUSES,
  ScaleError,
  TIMESTAMP_NOW_KEY,
  TWOX128,
} from "../../../node_service/chain/substrate_storage.ts";
import { type Json, mutatedBytes, oddJson, oddString } from "../mutate.ts";
import { expect, type FuzzTarget, rejectedBy, thrownBy } from "../target.ts";

const hex = (bytes: Uint8Array) =>
  `0x${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;

function compact(value: number): number[] {
  if (value < 64) return [value << 2];
  if (value < 1 << 14) return [((value << 2) | 1) & 0xff, (value << 2 | 1) >> 8];
  const encoded = ((value << 2) | 2) >>> 0;
  return [encoded & 0xff, (encoded >> 8) & 0xff, (encoded >> 16) & 0xff, encoded >>> 24];
}
const u32 = (
  value: number,
) => [value & 0xff, (value >> 8) & 0xff, (value >> 16) & 0xff, value >>> 24];
const u64 = (value: bigint) =>
  [...Array(8)].map((_, i) => Number((value >> BigInt(8 * i)) & 0xffn));
const u128 = (value: bigint) => [...u64(value & (2n ** 64n - 1n)), ...u64(value >> 64n)];

const orders = fc.array(
  fc.record({ rentId: fc.bigInt(0n, 2n ** 64n - 1n), rentStart: fc.nat(), rentEnd: fc.nat() }),
  { maxLength: 4 },
);
const detail = fc.record({
  machineId: fc.stringMatching(/^[0-9a-f]{64}$/),
  renter: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  rentStart: fc.nat(),
  confirmRent: fc.nat(),
  rentEnd: fc.nat(),
  stakeAmount: fc.bigInt(0n, 2n ** 128n - 1n),
  status: fc.nat(RENT_STATUSES.length - 1),
  gpuNum: fc.nat(16),
  gpuIndex: fc.array(fc.nat(16), { maxLength: 4 }),
});
const machine = fc.record({
  renters: fc.nat(3),
  status: fc.nat(MACHINE_STATUS_VARIANTS.length - 1),
});

type Encoded = { kind: "orders" | "detail" | "machine" | "u64"; bytes: Uint8Array; value: unknown };
const encoded: fc.Arbitrary<Encoded> = fc.oneof(
  orders.map((list) => ({
    kind: "orders" as const,
    value: list,
    bytes: Uint8Array.from([
      ...compact(list.length),
      ...list.flatMap((o) => [...u64(o.rentId), ...u32(o.rentStart), ...u32(o.rentEnd)]),
    ]),
  })),
  detail.map((d) => {
    const id = new TextEncoder().encode(d.machineId);
    return {
      kind: "detail" as const,
      value: d,
      bytes: Uint8Array.from([
        ...compact(id.length),
        ...id,
        ...d.renter,
        ...u32(d.rentStart),
        ...u32(d.confirmRent),
        ...u32(d.rentEnd),
        ...u128(d.stakeAmount),
        d.status,
        ...u32(d.gpuNum),
        ...compact(d.gpuIndex.length),
        ...d.gpuIndex.flatMap(u32),
      ]),
    };
  }),
  machine.map((m) => ({
    kind: "machine" as const,
    value: m,
    bytes: Uint8Array.from([
      ...new Uint8Array(64),
      ...compact(m.renters),
      ...new Uint8Array(32 * m.renters + 16 + 32),
      m.status,
      1,
      2,
      3,
    ]),
  })),
  fc.bigInt(0n, 2n ** 64n - 1n).map((value) => ({
    kind: "u64" as const,
    value,
    bytes: Uint8Array.from(u64(value)),
  })),
);

type Answer = { kind: "valid" | "edited" | "null" | "odd"; edited: Uint8Array; odd: Json };
const answer: fc.Arbitrary<Answer> = fc.record({
  kind: fc.oneof(
    { arbitrary: fc.constant("valid" as const), weight: 8 },
    { arbitrary: fc.constantFrom("edited" as const, "null" as const, "odd" as const), weight: 2 },
  ),
  edited: mutatedBytes(fc.uint8Array({ maxLength: 40 }), 2),
  odd: fc.oneof(oddJson(), oddString(20).map((text) => `0x${text}`)),
});

type Input = {
  value: Encoded;
  edited: Uint8Array;
  text: string;
  rpc: {
    hash: Answer;
    header: Answer;
    blockHex: string;
    now: Answer;
    orders: Answer;
    detail: Answer;
    info: Answer;
  };
  orders: Encoded;
  detail: Encoded;
  info: Encoded;
  renter: Uint8Array;
};

function decode(kind: Encoded["kind"], text: string): unknown {
  switch (kind) {
    case "orders":
      return decodeRentedOrders(text);
    case "detail":
      return decodeRentOrderDetail(text);
    case "machine":
      return decodeMachineStatus(text);
    case "u64":
      return decodeU64(text);
  }
}

/** Errors the chain client means to reject with. */
function expected(error: unknown): boolean {
  return error instanceof ScaleError || error instanceof z.ZodError ||
    (error instanceof Error && error.constructor === Error);
}

export const target: FuzzTarget<Input> = {
  name: "chain.scale",
  about:
    "SCALE decoders return what was encoded or throw ScaleError; lease answers fit their schema",
  property: () => ({
    arbitrary: fc.record({
      value: encoded,
      edited: encoded.chain((value) => mutatedBytes(fc.constant(value.bytes), 3)),
      text: fc.oneof(oddString(30), fc.stringMatching(/^0x[0-9a-fA-F]{0,40}$/)),
      rpc: fc.record({
        hash: answer,
        header: answer,
        blockHex: fc.oneof(fc.stringMatching(/^0x[0-9a-f]{1,8}$/), oddString(12)),
        now: answer,
        orders: answer,
        detail: answer,
        info: answer,
      }),
      orders: fc.oneof(encoded.filter((e) => e.kind === "orders"), encoded),
      detail: fc.oneof(encoded.filter((e) => e.kind === "detail"), encoded),
      info: fc.oneof(encoded.filter((e) => e.kind === "machine"), encoded),
      renter: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    }),
    async check(input) {
      // Valid encodings decode to what was encoded.
      const decoded = decode(input.value.kind, hex(input.value.bytes));
      if (input.value.kind === "orders") {
        assert.deepEqual(decoded, (input.value.value as object[]).map((order) => ({ ...order })));
      }
      if (input.value.kind === "u64") expect(decoded === input.value.value, "u64 differs");
      if (input.value.kind === "machine") {
        expect(
          decoded === MACHINE_STATUS_VARIANTS[(input.value.value as { status: number }).status],
          "status differs",
        );
      }
      if (input.value.kind === "detail") {
        const d = input.value.value as {
          machineId: string;
          stakeAmount: bigint;
          gpuIndex: number[];
        };
        const got = decoded as { machineId: string; stakeAmount: bigint; gpuIndex: number[] };
        expect(
          got.machineId === d.machineId && got.stakeAmount === d.stakeAmount,
          "detail differs",
        );
        assert.deepEqual(got.gpuIndex, d.gpuIndex);
      }
      // Edited bytes and any text: a value or a ScaleError.
      for (const kind of ["orders", "detail", "machine", "u64"] as const) {
        thrownBy(() => decode(kind, hex(input.edited)), [ScaleError]);
        thrownBy(() => decode(kind, input.text), [ScaleError]);
      }
      thrownBy(() => parseBlockNumber(input.text), [ScaleError]);

      // The whole question, over a chain that answers anything.
      const storage = (key: string, which: Answer, valid: Uint8Array) => {
        switch (which.kind) {
          case "valid":
            return hex(valid);
          case "edited":
            return hex(which.edited);
          case "null":
            return null;
          case "odd":
            return which.odd ?? key;
        }
      };
      const { rpc } = input;
      const rpcAnswer = (which: Answer, valid: unknown) =>
        which.kind === "valid"
          ? valid
          : which.kind === "null"
          ? null
          : which.kind === "edited"
          ? hex(which.edited)
          : which.odd;
      const fake = {
        call: (method: string, params: unknown[]) => {
          switch (method) {
            case "chain_getBlockHash":
              return Promise.resolve(rpcAnswer(rpc.hash, `0x${"ab".repeat(32)}`));
            case "chain_getHeader":
              return Promise.resolve(rpcAnswer(rpc.header, { number: rpc.blockHex }));
            case "state_getStorage": {
              const key = params[0] as string;
              if (key === TIMESTAMP_NOW_KEY) {
                return Promise.resolve(
                  storage(key, rpc.now, Uint8Array.from(u64(1_767_225_600_000n))),
                );
              }
              const pallet = key.slice(2, 66);
              if (pallet === TWOX128.RentMachine + TWOX128.MachineRenterRentedOrders) {
                return Promise.resolve(storage(key, rpc.orders, input.orders.bytes));
              }
              if (pallet === TWOX128.RentMachine + TWOX128.RentInfo) {
                return Promise.resolve(storage(key, rpc.detail, input.detail.bytes));
              }
              return Promise.resolve(storage(key, rpc.info, input.info.bytes));
            }
            default:
              return Promise.reject(new Error(`no ${method} here`));
          }
        },
        close: () => {},
      } as unknown as JsonRpcWebSocket;
      const chain = new SubstrateVerification(fake);
      let status: unknown;
      const error = await rejectedBy(async () => {
        status = await chain.leaseStatus({
          machineId: "ab".repeat(32),
          renter: encodeSs58(input.renter),
        });
      }, [Error]);
      if (error !== undefined) {
        expect(
          expected(error),
          () => `rejected with ${(error as Error).name}: ${(error as Error).message}`,
        );
      } else {expect(LeaseStatusSchema.safeParse(status).success, () =>
          `an answer off its schema: ${
            JSON.stringify(status, (_, v) => typeof v === "bigint" ? String(v) : v)
          }`);}
      const machineError = await rejectedBy(() => chain.machineStatus("ab".repeat(32)), [Error]);
      if (machineError !== undefined) {
        expect(expected(machineError), () => `rejected with ${(machineError as Error).name}`);
      }
    },
  }),
};
