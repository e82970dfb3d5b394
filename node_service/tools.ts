/**
 * Runs the node service's external programs through dax with a clean
 * environment (PATH only, C locale, so output is parseable) and a time-out.
 * Only the programs in {@link SERVICE_PROGRAMS} can be named: the worker's
 * Deno permissions refuse the rest anyway, the type says so earlier.
 */
import { $ } from "dax-sh";
import type { ServiceProgram } from "../mod/mod.ts";

export type ToolResult =
  | { kind: "exited"; code: number; stdout: string; stderr: string }
  | { kind: "not_found"; program: ServiceProgram }
  | { kind: "timed_out"; program: ServiceProgram; timeoutMs: number };

/** dax's exit code when the command cannot be found on PATH. */
const COMMAND_NOT_FOUND = 127;

export async function runTool(
  program: ServiceProgram,
  args: readonly string[],
  timeoutMs: number,
  /** Written to the program's standard input: how a secret reaches it, never its arguments. */
  stdin?: string,
): Promise<ToolResult> {
  const env = { PATH: Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin", LC_ALL: "C" };
  try {
    const command = $`${program} ${args}`;
    const result = await (stdin === undefined ? command : command.stdinText(stdin))
      .clearEnv()
      .env(env)
      .stdout("piped")
      .stderr("piped")
      .noThrow()
      .quiet()
      .timeout(timeoutMs);
    if (result.code === COMMAND_NOT_FOUND && /command not found/.test(result.stderr)) {
      return { kind: "not_found", program };
    }
    // dax reports a time-out as exit code 124.
    if (result.code === 124 && result.stderr === "") {
      return { kind: "timed_out", program, timeoutMs };
    }
    return { kind: "exited", code: result.code, stdout: result.stdout, stderr: result.stderr };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { kind: "not_found", program };
    throw error;
  }
}
