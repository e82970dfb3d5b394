/**
 * Rent arithmetic, exact: a period is a whole number of seconds, hours or
 * days; its end is the start plus the period in milliseconds and its amount
 * the count times the unit price, in integer arithmetic (bigint), so nothing
 * is rounded however large the price.
 *
 * @example
 * ```ts
 * billPeriod({ unit: "hour", count: 3, pricePerUnit: "1500000000000000", startsAt: 0 });
 * // { ok: true, endsAt: 10_800_000, amount: "4500000000000000" }
 * ```
 */
import type { RentPrices, RentUnit } from "../../mod/mod.ts";

/** Milliseconds in one unit of rent time. */
export const RENT_UNIT_MS: Readonly<Record<RentUnit, number>> = {
  second: 1_000,
  hour: 3_600_000,
  day: 86_400_000,
};

export type BillInput = {
  unit: RentUnit;
  count: number;
  /** Price of one unit, decimal text of an integer. */
  pricePerUnit: string;
  startsAt: number;
};

export type Bill =
  | { ok: true; endsAt: number; amount: string; periodMs: number }
  | { ok: false; reason: string };

/** The end and the amount of `count` units from `startsAt`. */
export function billPeriod(input: BillInput): Bill {
  if (!Number.isSafeInteger(input.count) || input.count < 1) {
    return { ok: false, reason: "count must be a positive integer" };
  }
  if (!/^(0|[1-9][0-9]*)$/.test(input.pricePerUnit)) {
    return { ok: false, reason: "a price is a non-negative integer" };
  }
  const periodMs = input.count * RENT_UNIT_MS[input.unit];
  const endsAt = input.startsAt + periodMs;
  if (!Number.isSafeInteger(periodMs) || !Number.isSafeInteger(endsAt)) {
    return { ok: false, reason: "the period is too long" };
  }
  return {
    ok: true,
    endsAt,
    periodMs,
    amount: (BigInt(input.count) * BigInt(input.pricePerUnit)).toString(),
  };
}

/** The unit price the machine asks for `unit`, or `undefined` when it does not rent by that unit. */
export function priceFor(prices: RentPrices, unit: RentUnit): string | undefined {
  return prices[unit];
}

/** The sum of decimal amounts, exactly. */
export function addAmounts(...amounts: string[]): string {
  return amounts.reduce((sum, amount) => sum + BigInt(amount), 0n).toString();
}

/** `balance - amount`, or `undefined` when the balance does not cover it. */
export function subtractAmount(balance: string, amount: string): string | undefined {
  const left = BigInt(balance) - BigInt(amount);
  return left < 0n ? undefined : left.toString();
}
