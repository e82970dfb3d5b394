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
 * A build also writes `dist/inputs.json`: the SHA-256 of every file esbuild
 * read (from its metafile) and of this script. When all of them are unchanged
 * and the bundle is there, the next run returns without loading esbuild, so a
 * node start pays a few file reads instead of a bundling.
 *
 * @example
 * ```sh
 * deno task ui:build     # prints the written file and the sizes
 * ```
 */
import type * as esbuild from "esbuild";

const UI_DIR = new URL("../http/ui/", import.meta.url);
/** The browser code's entry point. */
export const DASHBOARD_ENTRY = new URL("app/main.ts", UI_DIR);
/** The module the HTTP worker imports (http/ui/assets.ts names the same file). */
export const DASHBOARD_ASSETS = new URL("dist/assets.js", UI_DIR);
/** What the last build read, with digests: the cache key of the bundle. */
const DASHBOARD_INPUTS = new URL("dist/inputs.json", UI_DIR);
/** Browsers the bundle is written for: every current one (top-level await, class fields). */
const TARGET = ["es2022"];
const PROJECT_ROOT = new URL("../", import.meta.url);

export type BuiltDashboard = {
  path: string;
  scriptBytes: number;
  styleBytes: number;
  /** False when the file already held this very bundle and was left alone. */
  written: boolean;
  /** True when no input changed since the last build, so esbuild did not run. */
  cached: boolean;
};

/** Project-relative path -> SHA-256 (hex) of the file's bytes. */
type InputDigests = Record<string, string>;

/**
 * Bundles the dashboard and writes {@link DASHBOARD_ASSETS}, atomically (a reader never sees
 * half), and only when the bundle changed: Deno loads a worker's modules when the worker starts,
 * and a module file replaced after that is read again under the worker's own grants, which for
 * the HTTP worker are none. Nodes starting side by side each run this; only a change of the code
 * rewrites the file.
 */
export async function buildDashboard(): Promise<BuiltDashboard> {
  const cached = await unchangedBundle();
  if (cached) return cached;
  const esbuild = await import("esbuild");
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
      metafile: true,
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
    const inputs = await digestFiles([
      ...inputKeys(result.metafile.inputs),
      relativeToRoot(import.meta.url),
    ]);
    const existing = await Deno.readTextFile(DASHBOARD_ASSETS).catch(() => undefined);
    const written = existing !== module;
    if (written) await writeAtomically(DASHBOARD_ASSETS, module);
    // After the bundle: inputs.json never vouches for a bundle that is not there yet.
    await writeAtomically(DASHBOARD_INPUTS, JSON.stringify(inputs));
    return { ...sizes, written, cached: false };
  } finally {
    await esbuild.stop();
  }
}

/** The bundle as it is, when every input of the last build is byte for byte unchanged. */
async function unchangedBundle(): Promise<BuiltDashboard | undefined> {
  try {
    const recorded = JSON.parse(await Deno.readTextFile(DASHBOARD_INPUTS)) as InputDigests;
    const paths = Object.keys(recorded);
    if (!paths.includes(relativeToRoot(import.meta.url))) return undefined;
    const current = await digestFiles(paths);
    if (paths.some((path) => current[path] !== recorded[path])) return undefined;
    const module = await Deno.readTextFile(DASHBOARD_ASSETS);
    const sizes = module.match(/^export const (script|style) = (".*");$/gm) ?? [];
    const lengthOf = (name: string) => {
      const line = sizes.find((item) => item.startsWith(`export const ${name} =`));
      return line ? (JSON.parse(line.slice(line.indexOf("=") + 1, -1)) as string).length : 0;
    };
    return {
      path: DASHBOARD_ASSETS.pathname,
      scriptBytes: lengthOf("script"),
      styleBytes: lengthOf("style"),
      written: false,
      cached: true,
    };
  } catch {
    // No record, an unreadable one, or an input that is gone: build.
    return undefined;
  }
}

/** A file URL or path as the record keys it: relative to the project root. */
function relativeToRoot(url: string): string {
  return new URL(url).pathname.slice(PROJECT_ROOT.pathname.length);
}

/**
 * esbuild names its inputs relative to the working directory, and names what it did not read from
 * disk (`(disabled):...`, other namespaces) with a prefix: those carry no file to watch.
 */
function inputKeys(metafileInputs: Record<string, unknown>): string[] {
  const cwd = new URL(`file://${Deno.cwd()}/`);
  return Object.keys(metafileInputs)
    .filter((path) => !/^[a-z()-]+:/i.test(path))
    .map((path) => relativeToRoot(new URL(path, cwd).href));
}

async function digestFiles(keys: readonly string[]): Promise<InputDigests> {
  const digests: InputDigests = {};
  for (const key of keys) {
    const bytes = await Deno.readFile(new URL(key, PROJECT_ROOT));
    const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    digests[key] = Array.from(hash, (byte) => byte.toString(16).padStart(2, "0")).join("");
  }
  return digests;
}

async function writeAtomically(url: URL, text: string): Promise<void> {
  await Deno.mkdir(new URL(".", url), { recursive: true });
  const temporary = `${url.pathname}.${crypto.randomUUID()}.tmp`;
  await Deno.writeTextFile(temporary, text);
  await Deno.rename(temporary, url);
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
        built.cached
          ? "up to date (no input changed) in"
          : built.written
          ? "written to"
          : "unchanged in"
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
