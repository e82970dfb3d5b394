/** The OpenAPI document is valid 3.1 and lists every route the app serves. */
import assert from "node:assert/strict";
import { Validator } from "@seriousme/openapi-schema-validator";
import { type AppDeps, createAppWithRoutes, openApiPath } from "../../http/mod.ts";
import { RpcError, silentLogger } from "../../mod/mod.ts";

const deps: AppDeps = {
  call: (() => Promise.reject(new RpcError("unavailable", "not wired"))) as AppDeps["call"],
  log: silentLogger,
};

Deno.test("/openapi.json is a valid OpenAPI 3.1 document", async () => {
  const { app } = createAppWithRoutes(deps);
  const response = await app.request("/openapi.json");
  assert.equal(response.status, 200);
  const document = await response.json();
  assert.equal(document.openapi, "3.1.0");
  const validator = new Validator();
  const result = await validator.validate(document);
  assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2));
});

Deno.test("every route hono serves is in the document, with its method", async () => {
  const { app } = createAppWithRoutes(deps);
  const document = await (await app.request("/openapi.json")).json();
  const served = app.routes
    .filter((route) => route.method !== "ALL" && route.path !== "/openapi.json")
    .map((route) => `${route.method.toLowerCase()} ${openApiPath(route.path)}`);
  assert.ok(served.length > 0);
  for (const route of served) {
    const [method, path] = route.split(" ") as [string, string];
    assert.ok(document.paths[path]?.[method], `${route} is missing from /openapi.json`);
  }
});

Deno.test("a route's document names its success envelope and its failures", async () => {
  const { app } = createAppWithRoutes(deps);
  const document = await (await app.request("/openapi.json")).json();
  const node = document.paths["/api/v1/node"].get;
  assert.deepEqual(node.responses["200"].content["application/json"].schema.required, [
    "error_code",
    "error_message",
    "data",
  ]);
  assert.ok(node.responses["503"]["x-error-codes"].includes(-32602));
  assert.ok(node.responses["504"]["x-error-codes"].includes(-32700));
  assert.ok(node.responses["429"]);
});

Deno.test("the document says who may call each route, consistently with its failures", async () => {
  const { app, routes } = createAppWithRoutes(deps);
  const document = await (await app.request("/openapi.json")).json();
  assert.deepEqual(Object.keys(document.components.securitySchemes).sort(), [
    "delegatedSession",
    "operatorToken",
    "walletSignature",
  ]);
  const security = (method: string, path: string) =>
    document.paths[path][method].security as Array<Record<string, string[]>> | undefined;
  assert.deepEqual(security("post", "/api/v1/tasks/start"), [
    { walletSignature: [] },
    { delegatedSession: [] },
  ]);
  assert.deepEqual(security("post", "/api/v1/ledger/rentals"), [{ walletSignature: [] }]);
  assert.deepEqual(security("post", "/api/v1/sessions"), [{ walletSignature: [] }]);
  assert.deepEqual(security("get", "/api/v1/operator/events"), [{ operatorToken: [] }]);
  assert.equal(security("get", "/api/v1/node"), undefined);
  // A route that can answer 401 names its credentials, and one that names them can answer 401.
  for (const spec of routes.specs) {
    const canRefuse = (spec.errors ?? []).includes("unauthorized");
    assert.equal(
      spec.auth !== undefined,
      canRefuse,
      `${spec.method} ${spec.path}: auth ${spec.auth}, 401 listed: ${canRefuse}`,
    );
  }
});
