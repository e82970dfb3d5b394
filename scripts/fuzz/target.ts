/**
 * What a fuzz target is: a fast-check arbitrary of inputs for one decoder of
 * outside input, and the boundary contract that every input must keep
 * (`check` throws, or rejects, when it does not). Targets live in
 * `targets/*.ts`, each exporting `target`; `targets/mod.ts` lists them.
 *
 * @example
 * ```ts
 * export const target: FuzzTarget<Uint8Array> = {
 *   name: "example",
 *   about: "decodeThing returns a result, never throws",
 *   property: () => ({ arbitrary: fc.uint8Array(), check: (bytes) => void decodeThing(bytes) }),
 * };
 * ```
 */
import type fc from "fast-check";

export type FuzzProperty<T> = {
  arbitrary: fc.Arbitrary<T>;
  /** Throws (or rejects) when `input` breaks the boundary's contract. */
  check(input: T): void | Promise<void>;
  /** Frees what `property` set up (files, servers); called once after the run. */
  dispose?(): void | Promise<void>;
};

export type FuzzTarget<T = unknown> = {
  name: string;
  /** The contract checked, in a line. */
  about: string;
  /** Sets the target up (keys, a database, an app) and returns the property to run. */
  property(): FuzzProperty<T> | Promise<FuzzProperty<T>>;
};

/** A broken contract, with what was seen; thrown by targets' checks. */
export class ContractError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ContractError";
  }
}

/** Throws a {@link ContractError} with `message` unless `condition` holds. */
export function expect(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) throw new ContractError(typeof message === "string" ? message : message());
}

/**
 * Runs `work` and returns what it threw; a throw that is not one of `allowed` breaks the
 * contract (a TypeError from deep inside a parser is exactly what fuzzing looks for).
 */
export function thrownBy(
  work: () => unknown,
  allowed: readonly (abstract new (...args: never[]) => Error)[],
): unknown {
  try {
    work();
    return undefined;
  } catch (error) {
    expectAllowed(error, allowed);
    return error;
  }
}

/** The async form of {@link thrownBy}. */
export async function rejectedBy(
  work: () => Promise<unknown>,
  allowed: readonly (abstract new (...args: never[]) => Error)[],
): Promise<unknown> {
  try {
    await work();
    return undefined;
  } catch (error) {
    expectAllowed(error, allowed);
    return error;
  }
}

function expectAllowed(
  error: unknown,
  allowed: readonly (abstract new (...args: never[]) => Error)[],
): void {
  if (error instanceof ContractError) throw error;
  if (allowed.some((kind) => error instanceof kind)) return;
  const name = (error as Error)?.name ?? typeof error;
  throw new ContractError(
    `threw ${name} past the boundary (allowed: ${
      allowed.map((kind) => kind.name).join(", ") || "nothing"
    }): ${(error as Error)?.message ?? String(error)}`,
  );
}
