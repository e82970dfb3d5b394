/**
 * The dashboard's browser code, bundled by `deno task ui:build`
 * (scripts/ui_build.ts) into `dist/assets.js`, a module of string exports.
 * The HTTP worker may read no file; it imports that module once at start (Deno
 * loads a worker's modules whatever its read grant) and serves the strings
 * from memory. A checkout that was never built, or a seed executable, has no
 * such module: the dashboard then answers with what to run instead.
 *
 * @example
 * ```ts
 * const assets = await loadDashboardAssets();
 * if (assets.kind === "built") assets.script.length;
 * ```
 */

/** Where `deno task ui:build` writes the bundle (scripts/ui_build.ts names the same file). */
export const DASHBOARD_ASSETS_URL = new URL("./dist/assets.js", import.meta.url);

export type DashboardAssets =
  | {
    kind: "built";
    /** A digest of the bundle: it names the script and style URLs, so caches never go stale. */
    version: string;
    script: string;
    style: string;
  }
  | { kind: "missing"; reason: string };

/**
 * Imports the bundle. The specifier is written out, not computed: Deno then loads it under the
 * process's grants (the project's code), as it loads the worker's own modules; a computed one
 * would be checked against this worker's, which read nothing.
 */
const importBundle = (): Promise<Record<string, unknown>> => import("./dist/assets.js");

/** The bundle (`importer` stands in for the built module in tests), or why there is none; never throws. */
export async function loadDashboardAssets(
  importer: () => Promise<Record<string, unknown>> = importBundle,
): Promise<DashboardAssets> {
  let module: Record<string, unknown>;
  try {
    module = await importer();
  } catch (error) {
    // Deno reads a module file replaced after the worker started under the worker's own grants.
    if (error instanceof Deno.errors.NotCapable || /Requires read access/.test(String(error))) {
      return {
        kind: "missing",
        reason: "the dashboard's bundle was rebuilt while this node started: start the node again",
      };
    }
    return {
      kind: "missing",
      reason: `the dashboard is not built (${
        firstLine(error)
      }): run \`deno task ui:build\`, then start the node again`,
    };
  }
  const { version, script, style } = module;
  if (typeof version !== "string" || typeof script !== "string" || typeof style !== "string") {
    return {
      kind: "missing",
      reason: "the dashboard's bundle is not one `deno task ui:build` wrote: run it again",
    };
  }
  return { kind: "built", version, script, style };
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n")[0]!;
}
