/**
 * The node service's handlers as the HTTP app reaches them in a test: behind
 * a call that checks every message against the catalogue both ways, as the
 * worker boundary does.
 */
import type { AppDeps } from "../../http/mod.ts";
import { type Method, METHODS, RpcError } from "../../mod/mod.ts";

/** Handlers by method, as the node service's concerns hand them out. */
// deno-lint-ignore no-explicit-any
export type Handlers = Record<string, (params: any, context: any) => unknown>;

/**
 * A call to `handlers`: its parameters checked before (a bad one is `invalid_params`), its result
 * after. A method without a handler goes to `fallback`, or is `unavailable`.
 */
export function checkedCall(handlers: Handlers, fallback?: AppDeps["call"]): AppDeps["call"] {
  return (async (method: Method, params: unknown) => {
    const handler = handlers[method];
    if (!handler) {
      if (fallback) return await fallback(method as never, params as never);
      throw new RpcError("unavailable", `${method} is not wired in this test`);
    }
    const checked = METHODS[method].params.safeParse(params);
    if (!checked.success) {
      throw new RpcError(
        "invalid_params",
        `${method}: ${checked.error.issues[0]?.message ?? "bad parameters"}`,
      );
    }
    return METHODS[method].result.parse(await handler(checked.data, { from: "http" }));
  }) as AppDeps["call"];
}

/** `lease.check` as the verification service answers it: `renters` rent this machine, no one else. */
export function leaseCheck(renters: readonly string[]): Handlers {
  return {
    "lease.check": (params: { account: string }) => ({
      renting: renters.includes(params.account),
      lease: { state: "none" },
      verification: "ledger",
      checked_at: 0,
    }),
  };
}
