/**
 * The dashboard as the HTTP worker serves it: the bundle `deno task ui:build`
 * writes (esbuild, offline, from node_modules), loaded as a module and served
 * from memory with its content security policy, compressed and revalidated;
 * a node without a bundle says what to run. And the usage routes the
 * dashboard's charts read, on the app with a stand-in node service.
 */
import assert from "node:assert/strict";
import { type AppDeps, createApp } from "../../http/mod.ts";
import { CONTENT_SECURITY_POLICY, loadDashboardAssets } from "../../http/ui/mod.ts";
import { type InstanceUsage, RpcError, silentLogger } from "../../mod/mod.ts";
import { buildDashboard } from "../../scripts/ui_build.ts";
import { scratchDir } from "../helpers.ts";
import { devWallets } from "../wallets.ts";
import { appRequest } from "./app_request.ts";

const noCall =
  (() => Promise.reject(new RpcError("unavailable", "no node service"))) as AppDeps["call"];
const BUILT = {
  kind: "built",
  version: "0123abcd",
  script: "console.log('dbc');",
  style: "body{}",
} as const;

Deno.test("ui:build bundles the dashboard offline into a module the worker loads", async () => {
  const built = await buildDashboard();
  assert.ok(built.scriptBytes > 0 && built.styleBytes > 0);
  const assets = await loadDashboardAssets();
  assert.equal(assets.kind, "built");
  if (assets.kind !== "built") return;
  assert.match(assets.version, /^[0-9a-f]{16}$/);
  // The wallet library, the extension protocol, the API client's signed message and uPlot are in.
  for (const part of ["injectedWeb3", "dbc-request-v1", "X-DBC-Sign"]) {
    assert.ok(assets.script.toLowerCase().includes(part.toLowerCase()), part);
  }
  assert.match(assets.style, /\.uplot/);
});

Deno.test("ui:build skips esbuild while no input changed, and builds again when one did", async () => {
  await buildDashboard();
  const again = await buildDashboard();
  assert.equal(again.cached, true);
  assert.ok(again.scriptBytes > 0 && again.styleBytes > 0);
  // One recorded digest no longer matching its file stands for an edited source.
  const inputsUrl = new URL("../../http/ui/dist/inputs.json", import.meta.url);
  const inputs = JSON.parse(await Deno.readTextFile(inputsUrl)) as Record<string, string>;
  const source = Object.keys(inputs).find((path) => path.startsWith("http/ui/app/"));
  assert.ok(source, "the record lists the dashboard's own sources");
  inputs[source] = "0".repeat(64);
  await Deno.writeTextFile(inputsUrl, JSON.stringify(inputs));
  const rebuilt = await buildDashboard();
  assert.equal(rebuilt.cached, false);
  assert.equal((await buildDashboard()).cached, true);
});

Deno.test("a bundle that is missing or not one ui:build wrote is reported, not thrown", async () => {
  const missing = await loadDashboardAssets(() => import("./no_such_bundle.js"));
  assert.equal(missing.kind, "missing");
  assert.match(missing.kind === "missing" ? missing.reason : "", /deno task ui:build/);
  const dir = await scratchDir("ui-assets");
  try {
    await Deno.writeTextFile(`${dir}/foreign.js`, "export const script = 42;\n");
    const foreign = await loadDashboardAssets(() => import(`file://${dir}/foreign.js`));
    assert.equal(foreign.kind, "missing");
    await Deno.writeTextFile(
      `${dir}/good.js`,
      'export const version = "v1"; export const script = "s"; export const style = "c";\n',
    );
    assert.deepEqual(await loadDashboardAssets(() => import(`file://${dir}/good.js`)), {
      kind: "built",
      version: "v1",
      script: "s",
      style: "c",
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the page, its script and its style come from memory, with a strict policy, gzip and ETags", async () => {
  const app = createApp({ call: noCall, log: silentLogger, ui: BUILT });
  for (const path of ["/ui", "/ui/"]) {
    const page = await app.request(path);
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
    assert.equal(page.headers.get("content-security-policy"), CONTENT_SECURITY_POLICY);
    const html = await page.text();
    assert.match(html, /<script type="module" src="\/ui\/app\.js\?v=0123abcd">/);
    assert.match(html, /<link rel="stylesheet" href="\/ui\/app\.css\?v=0123abcd">/);
  }
  const script = await app.request("/ui/app.js");
  assert.match(script.headers.get("content-type") ?? "", /^text\/javascript/);
  assert.equal(await script.text(), BUILT.script);
  const etag = script.headers.get("etag")!;
  assert.equal(
    (await app.request("/ui/app.js", { headers: { "if-none-match": etag } })).status,
    304,
  );
  const style = await app.request("/ui/app.css", { headers: { "accept-encoding": "gzip, br" } });
  assert.equal(style.headers.get("content-encoding"), "gzip");
  const unzipped = await new Response(style.body!.pipeThrough(new DecompressionStream("gzip")))
    .text();
  assert.equal(unzipped, BUILT.style);
  // The policy lets the page run its own code (and the sr25519 WebAssembly), nothing else.
  assert.match(CONTENT_SECURITY_POLICY, /script-src 'self' 'wasm-unsafe-eval'/);
  assert.match(CONTENT_SECURITY_POLICY, /connect-src 'self'/);
  assert.doesNotMatch(CONTENT_SECURITY_POLICY, /unsafe-inline/);
});

Deno.test("without a bundle /ui answers 503 saying what to run; the API is unchanged", async () => {
  const reason = "the dashboard is not built (x): run `deno task ui:build`";
  const app = createApp({ call: noCall, log: silentLogger, ui: { kind: "missing", reason } });
  for (const path of ["/ui", "/ui/app.js"]) {
    const response = await app.request(path);
    assert.equal(response.status, 503);
    assert.match(await response.text(), /run `deno task ui:build`/);
  }
  const escaped = createApp({
    call: noCall,
    log: silentLogger,
    ui: { kind: "missing", reason: "<b>" },
  });
  assert.match(await (await escaped.request("/ui")).text(), /&#60;b&#62;/);
  assert.equal((await app.request("/api/v1/no-such")).status, 404);
});

/** A node service with one running container and one stopped VM, both Alice's. */
function usageService() {
  const reading = (id: string, kind: "vm" | "container"): InstanceUsage => ({
    id,
    kind,
    at: 1_000,
    cpu_time_ns: 5e8,
    cpus: 2,
    memory_used_bytes: 2 ** 20,
    memory_limit_bytes: 2 ** 26,
    net_rx_bytes: 10,
    net_tx_bytes: 20,
    disk_read_bytes: null,
    disk_write_bytes: null,
  });
  return (async (method: string, args: { id: string }) => {
    const { alice } = await devWallets();
    switch (method) {
      case "container.get":
        if (args.id !== "ct-one") throw new RpcError("not_found", `no container ${args.id}`);
        return { id: "ct-one", kind: "container", owner: alice.address, state: "running" };
      case "container.usage":
        return reading(args.id, "container");
      case "vm.get":
        return { id: "vm-one", kind: "vm", owner: alice.address, state: "stopped" };
      case "vm.usage":
        throw new RpcError("conflict", `VM ${args.id} is stopped, not running`);
    }
    throw new RpcError("unavailable", `${method} is not wired in this test`);
  }) as unknown as AppDeps["call"];
}

Deno.test("usage: the renter reads its running instance's counters; others get 404, a stopped one 409", async () => {
  const { alice, bob } = await devWallets();
  const app = createApp({ call: usageService(), log: silentLogger });
  const mine = await appRequest(app, "GET", "/api/v1/containers/ct-one/usage", { signer: alice });
  assert.equal(mine.status, 200, JSON.stringify(mine.body));
  assert.equal(mine.body.data.cpu_time_ns, 5e8);
  assert.equal(mine.body.data.disk_read_bytes, null);
  const other = await appRequest(app, "GET", "/api/v1/containers/ct-one/usage", { signer: bob });
  assert.equal(other.status, 404);
  const unknown = await appRequest(app, "GET", "/api/v1/containers/ct-two/usage", {
    signer: alice,
  });
  assert.equal(unknown.status, 404);
  const unsigned = await appRequest(app, "GET", "/api/v1/containers/ct-one/usage");
  assert.equal(unsigned.status, 401);
  const stopped = await appRequest(app, "GET", "/api/v1/tasks/vm-one/usage", { signer: alice });
  assert.equal(stopped.status, 409);
  assert.match(stopped.body.error_message, /not running/);
});
