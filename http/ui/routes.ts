/**
 * Serves the dashboard from memory: the page at `/ui`, its script and style
 * at `/ui/app.js` and `/ui/app.css`, gzip-compressed for browsers that take
 * it (the bundle is about a megabyte; compressed once, on first request). The
 * page talks to this node's own API only, and its content security policy
 * says so: its own scripts (and WebAssembly, which the sr25519 code
 * compiles), its own styles, requests to this origin alone.
 */
import type { Context, Hono } from "hono";
import type { DashboardAssets } from "./assets.ts";
import { DASHBOARD_PATH, dashboardPage, notBuiltPage, SCRIPT_PATH, STYLE_PATH } from "./page.ts";

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

/** One served file: its text, and its gzip form once asked for. */
class Asset {
  #gzip: Promise<Uint8Array<ArrayBuffer>> | undefined;
  readonly etag: string;

  constructor(readonly text: string, readonly type: string, version: string) {
    this.etag = `"${version}"`;
  }

  gzip(): Promise<Uint8Array<ArrayBuffer>> {
    this.#gzip ??= new Response(
      new Blob([this.text]).stream().pipeThrough(new CompressionStream("gzip")),
    ).bytes();
    return this.#gzip;
  }

  async respond(c: Context): Promise<Response> {
    const headers: Record<string, string> = {
      ...SECURITY_HEADERS,
      "content-type": this.type,
      // Revalidated each time; the ETag makes that a 304 while the bundle is the same.
      "cache-control": "no-cache",
      etag: this.etag,
      vary: "accept-encoding",
    };
    if (c.req.header("if-none-match") === this.etag) {
      return new Response(null, { status: 304, headers });
    }
    if (/\bgzip\b/.test(c.req.header("accept-encoding") ?? "")) {
      return new Response(await this.gzip(), {
        headers: { ...headers, "content-encoding": "gzip" },
      });
    }
    return new Response(this.text, { headers });
  }
}

/** Adds the dashboard's routes to `app`. */
export function dashboardRoutes(app: Hono, assets: DashboardAssets): void {
  if (assets.kind === "missing") {
    const page = notBuiltPage(assets.reason);
    app.get(DASHBOARD_PATH, (c) => c.html(page, 503, SECURITY_HEADERS));
    app.get(`${DASHBOARD_PATH}/*`, (c) => c.html(page, 503, SECURITY_HEADERS));
    return;
  }
  const page = new Asset(dashboardPage(assets.version), "text/html; charset=utf-8", assets.version);
  const script = new Asset(assets.script, "text/javascript; charset=utf-8", assets.version);
  const style = new Asset(assets.style, "text/css; charset=utf-8", assets.version);
  app.get(DASHBOARD_PATH, (c) => page.respond(c));
  app.get(`${DASHBOARD_PATH}/`, (c) => page.respond(c));
  app.get(SCRIPT_PATH, (c) => script.respond(c));
  app.get(STYLE_PATH, (c) => style.respond(c));
}
