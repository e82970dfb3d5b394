/** The renters' requests, counted by outcome, with the details of every one that failed otherwise. */
import type { Outcome } from "./classify.ts";

/** One request, as the report names it. */
export type RequestLabel = {
  renter: string;
  /** The client-end it went through. */
  via: string;
  /** `METHOD path`, e.g. `POST /api/v1/containers/<id>/stop`. */
  request: string;
};

export type Failure = RequestLabel & { at: string; why: string };

/** Failures kept in full; past this only counted (the first ones are the ones to read). */
const KEPT_FAILURES = 50;

export class Tally {
  requests = 0;
  succeeded = 0;
  /** Clear errors by code (`try_later`, `timeout`, `conflict`, `unreachable`, ...). */
  readonly clear = new Map<string, number>();
  otherwise = 0;
  readonly failures: Failure[] = [];
  readonly #onFailure: (failure: Failure) => void;

  constructor(onFailure: (failure: Failure) => void = () => {}) {
    this.#onFailure = onFailure;
  }

  get clearTotal(): number {
    return [...this.clear.values()].reduce((sum, count) => sum + count, 0);
  }

  record(outcome: Outcome, label: RequestLabel): void {
    this.requests++;
    switch (outcome.kind) {
      case "succeeded":
        this.succeeded++;
        return;
      case "clear":
        this.clear.set(outcome.code, (this.clear.get(outcome.code) ?? 0) + 1);
        return;
      case "otherwise": {
        this.otherwise++;
        const failure = { ...label, at: new Date().toISOString(), why: outcome.why };
        if (this.failures.length < KEPT_FAILURES) this.failures.push(failure);
        this.#onFailure(failure);
        return;
      }
    }
  }
}
