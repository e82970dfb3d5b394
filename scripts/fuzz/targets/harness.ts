/**
 * Targets whose contract is broken on purpose, so that tests can show the
 * runner catches each kind of failure: a throw, an input that never returns,
 * a rejection that escapes, memory that grows with every input. Run only
 * when named (`--target harness.throws`), never in the default list.
 */
import fc from "fast-check";
import { expect, type FuzzTarget } from "../target.ts";

/** Inputs from this value on break the contract (small enough to be drawn, large enough to shrink). */
const BREAKING = 1_000;

export const throws: FuzzTarget<number> = {
  name: "harness.throws",
  about: "breaks its contract for every input from 1000 on (the counterexample shrinks to 1000)",
  property: () => ({
    arbitrary: fc.nat(100_000),
    check: (value) => expect(value < BREAKING, `${value} is not below ${BREAKING}`),
  }),
};

export const hangs: FuzzTarget<number> = {
  name: "harness.hangs",
  about: "never returns for inputs from 1000 on (a synchronous loop: only the watchdog ends it)",
  property: () => ({
    arbitrary: fc.nat(100_000),
    check: (value) => {
      while (value >= BREAKING) {
        // A loop nothing in this thread can interrupt.
      }
    },
  }),
};

export const escapes: FuzzTarget<number> = {
  name: "harness.escapes",
  about: "lets a rejection escape, unhandled, for inputs from 1000 on",
  property: () => ({
    arbitrary: fc.nat(100_000),
    check: async (value) => {
      if (value >= BREAKING) void Promise.reject(new Error("escaped on purpose"));
      await new Promise((resolve) => setTimeout(resolve, 0));
    },
  }),
};

const kept: Uint8Array[] = [];
export const leaks: FuzzTarget<number> = {
  name: "harness.leaks",
  about: "keeps 64 KiB of every input for ever",
  property: () => ({
    arbitrary: fc.nat(),
    check: () => void kept.push(new Uint8Array(64 * 1024).fill(1)),
  }),
};
