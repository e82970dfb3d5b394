/** Pieces the renter-facing route files share. */
import { z } from "zod";

/** What a signed request that acts on something can fail with: who asks, what, its state, the node. */
export const SIGNED_ROUTE_ERRORS = [
  "unauthorized",
  "forbidden",
  "not_found",
  "conflict",
  "try_later",
  "timeout",
] as const;

/** A GET names its GPU node in the query (a client-end forwards it there). */
export const NodeQuery = z.object({ node_id: z.string().optional() });
/** A POST may name it as the original did, in the body. */
export const TargetFields = { peer_nodes_list: z.array(z.string()).length(1).optional() };
export const TargetBody = z.object(TargetFields);
