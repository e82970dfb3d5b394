/**
 * What a client-end answers when the network carries a forwarded request but the GPU node cannot
 * take it: the network's own refusals, passed through `forwardToNode` with the message catalogue
 * checking both ways.
 */
import assert from "node:assert/strict";
import { ApiError, type AppDeps } from "../../http/mod.ts";
import { forwardToNode, parseServerTiming, serverTiming } from "../../http/remote.ts";
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

/** A `Server-Timing` header as name -> duration; every entry must name one. */
function timings(header: string | null): Record<string, number> {
  assert.ok(header, "a Server-Timing header");
  const spans = parseServerTiming(header);
  assert.equal(
    Object.keys(spans).length,
    header.split(",").length,
    `a named duration each: ${header}`,
  );
  return spans;
}

Deno.test("a forwarded answer says where its time went: this client-end, the network, the node's API", async () => {
  const response = await forwardToNode(
    answering({
      type: "app",
      topic: "api.http",
      body: { status: 200, body: '{"error_code":0}', served_ms: 0.4 },
    }),
    GPU,
    REQUEST,
    1_000,
  );
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("x-dbc-served-by"), GPU);
  const split = timings(response.headers.get("server-timing"));
  // The network worker measured 1 ms (`answering`): 0.4 of it the node's API, the rest the link.
  assert.deepEqual(Object.keys(split), ["client-end", "network", "node"]);
  assert.equal(split.node, 0.4);
  assert.equal(split.network, 0.6);
  assert.ok(split["client-end"]! >= 0);
  assert.equal(await response.text(), '{"error_code":0}');
});

Deno.test("Server-Timing: a node that does not say how long its API took is one 'remote' span; none is negative", () => {
  assert.deepEqual(
    timings(serverTiming({ totalMs: 3.456, roundTripMs: 2 })),
    { "client-end": 1.46, remote: 2 },
  );
  // Clocks of two threads: a round trip a hair longer than the total is no negative span.
  assert.deepEqual(
    timings(serverTiming({ totalMs: 1.999, roundTripMs: 2, servedMs: 2.5 })),
    { "client-end": 0, network: 0, node: 2.5 },
  );
});
