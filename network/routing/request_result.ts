/** What a request to a node by id ends with: its reply and how it travelled, or why it failed. */
import type { NetworkReply } from "../../mod/mod.ts";

/** Why a request failed; the worker maps each to an RPC error code. */
export type RequestFailure = "timeout" | "gone" | "no_route" | "busy";

export class RequestFailed extends Error {
  constructor(readonly reason: RequestFailure, message: string) {
    super(message);
    this.name = "RequestFailed";
  }
}

export type RouteResult = {
  reply: NetworkReply;
  rttMs: number;
  /** Links the reply travelled; 0 for a request to this node itself. */
  hops: number;
  route: "local" | "direct" | "relayed";
};
