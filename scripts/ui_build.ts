/**
 * `deno task ui:build`: bundles the renter's dashboard (http/ui/app/, with the
 * @polkadot keyring, the API client and uPlot from node_modules) into one
 * browser script and one style sheet with esbuild, offline, and writes them as
 * string exports of `http/ui/dist/assets.js`. The HTTP worker, which may read
 * no file, imports that module once at start (a module import, not a file
 * read) and serves the strings from memory; without it `/ui` says to run this.
 * `scripts/node.sh` runs it before every start, the browser test before its
 * nodes start. `dist/` is a build output: ignored, never committed.
 *
 * @example
 * ```sh
 * deno task ui:build     # prints the written file and the sizes
 * ```
 */
import * as esbuild from "esbuild";

const UI_DIR = new URL("../http/ui/", import.meta.url);
/** The browser code's entry point. */
export const DASHBOARD_ENTRY = new URL("app/main.ts", UI_DIR);
/** The module the HTTP worker imports (http/ui/assets.ts names the same file). */
export const DASHBOARD_ASSETS = new URL("dist/assets.js", UI_DIR);
/** Browsers the bundle is written for: every current one (top-level await, class fields). */
const TARGET = ["es2022"];

export type BuiltDashboard = {
  path: string;
  scriptBytes: number;
  styleBytes: number;
  /** False when the file already held this very bundle and was left alone. */
  written: boolean;
};

/**
 * Bundles the dashboard and writes {@link DASHBOARD_ASSETS}, atomically (a reader never sees
 * half), and only when the bundle changed: Deno loads a worker's modules when the worker starts,
 * and a module file replaced after that is read again under the worker's own grants, which for
 * the HTTP worker are none. Nodes starting side by side each run this; only a change of the code
 * rewrites the file.
 */
export async function buildDashboard(): Promise<BuiltDashboard> {
  try {
    const result = await esbuild.build({
      entryPoints: { app: DASHBOARD_ENTRY.pathname },
      bundle: true,
      write: false,
      format: "esm",
      platform: "browser",
      target: TARGET,
      minify: true,
      // Names only the in-memory outputs; nothing is written there.
      outdir: new URL("dist/", UI_DIR).pathname,
      logLevel: "silent",
      legalComments: "none",
    });
    const script = result.outputFiles.find((file) => file.path.endsWith(".js"))?.text;
    const style = result.outputFiles.find((file) => file.path.endsWith(".css"))?.text ?? "";
    if (script === undefined) throw new Error("esbuild wrote no script");
    const version = await digest(`${script}\n${style}`);
    const module = [
      "// Written by `deno task ui:build` (scripts/ui_build.ts); a build output, never committed.",
      `export const version = ${JSON.stringify(version)};`,
      `export const script = ${JSON.stringify(script)};`,
      `export const style = ${JSON.stringify(style)};`,
      "",
    ].join("\n");
    const sizes = {
      path: DASHBOARD_ASSETS.pathname,
      scriptBytes: script.length,
      styleBytes: style.length,
    };
    const existing = await Deno.readTextFile(DASHBOARD_ASSETS).catch(() => undefined);
    if (existing === module) return { ...sizes, written: false };
    await Deno.mkdir(new URL(".", DASHBOARD_ASSETS), { recursive: true });
    const temporary = `${DASHBOARD_ASSETS.pathname}.${crypto.randomUUID()}.tmp`;
    await Deno.writeTextFile(temporary, module);
    await Deno.rename(temporary, DASHBOARD_ASSETS);
    return { ...sizes, written: true };
  } finally {
    await esbuild.stop();
  }
}

/** The first 16 hex digits of the SHA-256 of `text`: the bundle's version, for caches. */
async function digest(text: string): Promise<string> {
  const hash = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)),
  );
  return Array.from(hash.slice(0, 8), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

if (import.meta.main) {
  try {
    const built = await buildDashboard();
    console.log(
      `dashboard ${
        built.written ? "written to" : "unchanged in"
      } ${built.path} (script ${built.scriptBytes} bytes, style ${built.styleBytes} bytes)`,
    );
  } catch (error) {
    const errors = (error as { errors?: esbuild.Message[] }).errors;
    const lines = errors?.length
      ? errors.map((item) =>
        `${item.location?.file ?? ""}:${item.location?.line ?? ""}: ${item.text}`
      )
      : [(error as Error).message];
    console.error(`ui:build failed:\n  ${lines.join("\n  ")}`);
    Deno.exit(1);
  }
}
