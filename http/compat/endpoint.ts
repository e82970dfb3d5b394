/**
 * How the original dialect's endpoints are declared: the original routes by
 * a path prefix (`/tasks`, `/snapshot`, ...), then by the segments after it
 * (`/tasks/stop/{id}`: action first, id last), so each group of endpoints is
 * a function from those segments to an {@link Endpoint}, or a 400 naming the
 * path. An endpoint says where it is answered (by the client-end itself, or
 * by the GPU node that `peer_nodes_list[0]` names, through the network) and
 * what it does there with the node's typed calls.
 */
import type { AppDeps } from "../app_deps.ts";
import type { Requester } from "../auth.ts";
import type { OriginalAuthority } from "./auth.ts";
import type { OriginalBody } from "./body.ts";
import type { BoundRequest } from "./bound_nonce.ts";

/** What the compat app is given: the node's typed calls and who this node is. */
export type CompatDeps = Pick<AppDeps, "call" | "log" | "now" | "rateLimit" | "clientAddress"> & {
  node: {
    nodeId: string;
    role: "gpu" | "seed" | "client";
    forwardTimeoutMs: number;
    /** The GPU node's chain-style machine id (mod/machine_id.ts). */
    machineId?: string;
  };
};

export type EndpointInput = {
  deps: CompatDeps & { now: () => number };
  /** The common body; `undefined` for endpoints that read none. */
  body: OriginalBody | undefined;
  /** The path's segments after the group and the endpoint's own words (ids, names). */
  args: string[];
  query: URLSearchParams;
  authority: OriginalAuthority;
  /** The path and query as received: what a bound nonce (bound_nonce.ts) commits to. */
  uri?: string;
};

/** The common body, which every endpoint but the bodyless ones has. */
export function bodyOf(input: EndpointInput): OriginalBody {
  if (!input.body) throw new Error("this endpoint reads no body");
  return input.body;
}

/** Who acts, for endpoints the renter (or its session) may use. */
export function renter(input: EndpointInput): Promise<Requester> {
  return input.authority.requester(bodyOf(input).auth, {
    session: true,
    request: boundRequestOf(input),
  });
}

/** The request a bound nonce must have been made for; none without the received path. */
export function boundRequestOf(input: EndpointInput): BoundRequest | undefined {
  if (input.uri === undefined || !input.body) return undefined;
  return { uri: input.uri, peer: input.body.peer ?? "", additional: input.body.additional };
}

export type Endpoint = {
  /** The original's words for it, in its time-out message: `"<name> timeout"`. */
  name: string;
  /**
   * `node`: the GPU node `peer_nodes_list[0]` names answers (forwarded there); `here`: this
   * node; `peer_or_here`: the GPU node when one is named, else this node (lists).
   */
  at: "node" | "here" | "peer_or_here";
  /** The client-end requires a signature form (wallet, multisig or session pair) before forwarding. */
  signed: boolean;
  /** Answers any method (the original's `/api/v1/` root); every other endpoint is POST only. */
  anyMethod?: boolean;
  /** Reads no body (the root, the peer lists): a GET-less client may send none. */
  bodyless?: boolean;
  /** Checks the client-end makes itself (query parameters), before anything is forwarded. */
  check?: (input: EndpointInput) => void;
  /** The answer's `message` on success. */
  run: (input: EndpointInput) => Promise<unknown> | unknown;
};

export type Route = { endpoint: Endpoint; args: string[] };

/** A group of endpoints under one prefix: its segments to a route, or a thrown 400. */
export type Group = (segments: string[]) => Route;
