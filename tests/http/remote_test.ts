/**
 * What a client-end answers when the network carries a forwarded request but the GPU node cannot
 * take it: the network's own refusals, passed through `forwardToNode` with the message catalogue
 * checking both ways.
 */
import assert from "node:assert/strict";
import { ApiError, type AppDeps } from "../../http/mod.ts";
import { forwardToNode } from "../../http/remote.ts";
import { type Method, METHODS } from "../../mod/mod.ts";

const GPU = "12D3KooWHvptS6tJ77SZxbVS4ajffYXrB17NffFfnyAdqGFzhbfD";
const REQUEST = { method: "GET" as const, path: "/api/v1/containers", headers: {}, body: "" };

function answering(reply: unknown): Pick<AppDeps, "call"> {
  return {
    call: ((method: Method, params: unknown) => {
      const spec = METHODS[method];
      spec.params.parse(params);
      return Promise.resolve(
        spec.result.parse({ from: GPU, reply, rtt_ms: 1, hops: 2, route: "relayed" }),
      );
    }) as AppDeps["call"],
  };
}

Deno.test("a GPU node that is starting (no API handler yet) means try later, not 'no such instance'", async () => {
  await assert.rejects(
    forwardToNode(
      answering({
        type: "error",
        code: "not_found",
        message: `node ${GPU} has no handler for api.http`,
      }),
      GPU,
      REQUEST,
      1_000,
    ),
    (error: unknown) => {
      assert.ok(error instanceof ApiError);
      assert.equal(error.kind, "try_later");
      assert.match(error.message, /cannot serve API requests now/);
      return true;
    },
  );
  await assert.rejects(
    forwardToNode(
      answering({ type: "error", code: "timeout", message: "late" }),
      GPU,
      REQUEST,
      1_000,
    ),
    (error: unknown) => error instanceof ApiError && error.kind === "timeout",
  );
});
