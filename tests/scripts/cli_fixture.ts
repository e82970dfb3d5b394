/** The renter CLI as renters run it: `deno task cli` in a real subprocess. */
import { DENO_BIN, REPO_ROOT } from "../helpers.ts";

/** What a run of the CLI ended with. */
export type CliRun = { code: number; stdout: string; stderr: string };

/** The variables the CLI reads, cleared; the API is a port where nothing answers. */
const CLI_ENV = {
  DBC_API: "http://127.0.0.1:9",
  DBC_WALLET_URI: "",
  DBC_WALLET_MNEMONIC: "",
  DBC_WALLET_TYPE: "",
  DBC_SESSION: "",
};

/**
 * Runs the CLI with `args`. Every variable it reads is set, from `env` or cleared, so the
 * environment of the test run cannot leak in.
 */
export async function runCli(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  const output = await new Deno.Command(DENO_BIN, {
    args: ["task", "-q", "cli", ...args],
    cwd: REPO_ROOT,
    env: { ...CLI_ENV, ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** Runs the CLI as //Alice against the API at `api`. */
export function aliceCli(args: string[], api: string): Promise<CliRun> {
  return runCli(args, { DBC_API: api, DBC_WALLET_URI: "//Alice" });
}
