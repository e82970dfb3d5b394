/**
 * API requests from other nodes (topic `api.http`) go to the HTTP worker as one call each
 * (`http.remote_request`): its result is the reply. No subscription, long poll or separate
 * reply message sits in between, so a routed request crosses the worker boundary twice on the
 * node that serves it, as a direct one does.
 */
import {
  type CallOptions,
  type NetworkReply,
  type ParamsOf,
  type ResultOf,
  RpcError,
} from "../mod/mod.ts";

/** The one call this needs (the network worker's RPC `call`, narrowed). */
export type CallHttp = (
  method: "http.remote_request",
  params: ParamsOf<"http.remote_request">,
  options?: CallOptions,
) => Promise<ResultOf<"http.remote_request">>;

/**
 * Answers `body`, an API request from node `origin`, by the HTTP worker before `deadline`
 * (ms since the epoch, on `now`'s clock). Never rejects: a failure is an error reply, which a
 * client-end passes on as it says (`not_found`: try again later).
 */
export async function answerApiRequest(
  callHttp: CallHttp,
  topic: string,
  origin: string,
  body: unknown,
  deadline: number,
  now: () => number,
  nodeId: string,
): Promise<NetworkReply> {
  const timeoutMs = Math.max(1, deadline - now());
  try {
    const answer = await callHttp(
      "http.remote_request",
      { from: origin, body: body as ParamsOf<"http.remote_request">["body"] },
      { timeoutMs },
    );
    return { type: "app", topic, body: answer };
  } catch (error) {
    const code = error instanceof RpcError ? error.code : "internal";
    if (code === "timeout") {
      return { type: "error", code: "timeout", message: `no answer to ${topic} in time` };
    }
    // The HTTP worker is starting or restarting: as a node with no handler yet, try later.
    if (code === "unavailable" || code === "shutting_down") {
      return {
        type: "error",
        code: "not_found",
        message: `node ${nodeId} has no handler for ${topic} now`,
      };
    }
    const message = error instanceof Error ? error.message : String(error);
    return { type: "error", code: "internal", message: message.slice(0, 1000) };
  }
}
