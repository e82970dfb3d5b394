/**
 * The original's prefixes this network does not serve, each answered with a
 * clear refusal in the original's shape (HTTP 200, errcode -3, what is
 * missing and, where there is one, the native way): bare-metal (IPMI) nodes, DeepLink, GPU-share
 * rent orders.
 * `/stat` and `/config` were empty stubs there and answer as they did
 * ("Unhandled request", 500). `/` gives the node's version.
 */
import { VERSION } from "../../mod/mod.ts";
import { CompatError, ORIGINAL_CODES } from "./envelope.ts";
import type { Endpoint, Group } from "./endpoint.ts";

/** What each unserved prefix lacks here. */
const UNSERVED: Record<string, string> = {
  bare_metal: "bare-metal nodes (IPMI) are not supported by this network",
  deeplink: "DeepLink devices are not supported by this network",
  rent_orders: "GPU-share rent orders are not kept by this network; a machine's rentals are " +
    "in GET /api/v1/ledger/leases?machine_id= on the native API",
};

function refusal(group: string): Endpoint {
  return {
    name: group,
    at: "here",
    signed: false,
    bodyless: true,
    run() {
      throw new CompatError(200, ORIGINAL_CODES.denied, UNSERVED[group]!);
    },
  };
}

const stub: Endpoint = {
  name: "stub",
  at: "here",
  signed: false,
  bodyless: true,
  anyMethod: true,
  run() {
    throw new CompatError(500, ORIGINAL_CODES.responseError, "Unhandled request");
  },
};

const root: Endpoint = {
  name: "client version",
  at: "here",
  signed: false,
  bodyless: true,
  anyMethod: true,
  run: () => ({ client_version: VERSION }),
};

export const unservedGroups: Record<string, Group> = Object.fromEntries(
  Object.keys(UNSERVED).map((group) => [group, () => ({ endpoint: refusal(group), args: [] })]),
);
export const stubRoutes: Group = () => ({ endpoint: stub, args: [] });
/** `/api/v1/` itself; anything below an unknown word is the caller's 404. */
export const rootRoute: Group = () => ({ endpoint: root, args: [] });
