/**
 * The renter CLI's dispatcher: parses the command line, finds the command,
 * makes the wallet and the API client from the environment, runs the command
 * and turns failures into the exit status and one error line:
 * `error <code> (HTTP <status>): <message>` (exit 1) for the API's refusals,
 * the usage for a mistake in the command line (exit 2).
 *
 * @example
 * ```ts
 * const status = await runCli(["--json", "node"], { env: (name) => Deno.env.get(name), out: console.log, err: console.error });
 * ```
 */
import { ApiClient, ApiClientError, walletSigner } from "../../http/mod.ts";
import { parseCommandLine } from "./args.ts";
import {
  type Command,
  type CommandContext,
  COMMANDS,
  EXIT,
  GLOBAL_FLAGS,
  helpText,
  UsageError,
} from "./commands.ts";
import { walletFromEnv } from "./wallet.ts";

export const DEFAULT_API = "http://127.0.0.1:8080";
export const API_ENV = "DBC_API";
export const SESSION_ENV = "DBC_SESSION";
/** The GPU node's operator token (`<data_dir>/operator.token`), for the owner's commands. */
export const OPERATOR_TOKEN_ENV = "DBC_OPERATOR_TOKEN";

export type CliIo = {
  env: (name: string) => string | undefined;
  /** One chunk of standard output (a newline is added). */
  out: (text: string) => void;
  err: (text: string) => void;
  fetch?: typeof fetch;
};

/** Runs one command line; resolves with the exit status. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseCommandLine(argv);
  if (!parsed.ok) return usage(io, parsed.message);
  const { positionals, flags } = parsed.value;
  if (positionals.length === 0 || positionals[0] === "help") {
    if (positionals.length === 0 && !flags.help) return usage(io, "no command given");
    const named = positionals.length > 1 ? findCommand(positionals.slice(1)) : undefined;
    io.out(helpText(named));
    return EXIT.ok;
  }
  const command = findCommand(positionals);
  if (!command) {
    const group = COMMANDS.some((item) =>
      item.words.length > 1 && item.words[0] === positionals[0]
    );
    return usage(
      io,
      group
        ? `unknown ${positionals[0]} command: ${positionals.slice(0, 2).join(" ")}`
        : `unknown command: ${positionals[0]}`,
    );
  }
  if (flags.help) {
    io.out(helpText(command));
    return EXIT.ok;
  }
  const values = positionals.slice(command.words.length);
  if (values.length !== command.args.length) {
    return usage(
      io,
      command.args.length === 0
        ? `${command.words.join(" ")} takes no arguments, got: ${values.join(" ")}`
        : `${command.words.join(" ")} needs ${command.args.map((arg) => `<${arg}>`).join(" ")}`,
      command,
    );
  }
  for (const name of Object.keys(flags)) {
    if (![...GLOBAL_FLAGS, ...command.flags].includes(name as never)) {
      return usage(io, `${command.words.join(" ")} takes no --${name}`, command);
    }
  }
  for (const name of command.required ?? []) {
    if (flags[name] === undefined) return usage(io, `--${name} is required`, command);
  }

  const baseUrl = (flags.api as string | undefined) ?? io.env(API_ENV) ?? DEFAULT_API;
  const wallet = await walletFromEnv(io.env);
  if (!wallet.ok) return setupError(io, wallet.message);
  const session = io.env(SESSION_ENV)?.trim() || undefined;
  if (session && wallet.value) {
    return setupError(io, `set a wallet or ${SESSION_ENV}, not both`);
  }
  if (command.wallet === "required" && !wallet.value) {
    return setupError(
      io,
      `${command.words.join(" ")} needs a wallet${
        session ? ` (a session cannot do this)` : ""
      }: set DBC_WALLET_URI (e.g. //Alice) or DBC_WALLET_MNEMONIC`,
    );
  }
  if (command.wallet === "renter" && !wallet.value && !session) {
    return setupError(
      io,
      `${
        command.words.join(" ")
      } needs a wallet (DBC_WALLET_URI or DBC_WALLET_MNEMONIC) or a session (${SESSION_ENV})`,
    );
  }
  let client: ApiClient;
  try {
    client = new ApiClient({
      baseUrl,
      signer: wallet.value && walletSigner(wallet.value),
      // A session stands in for the wallet only where the node takes one (instance operations).
      session: command.wallet === "renter" ? session : undefined,
      fetch: io.fetch,
    });
  } catch {
    return setupError(io, `${flags.api ? "--api" : API_ENV}: not an http(s) URL: ${baseUrl}`);
  }
  const json = flags.json === true;
  const context: CommandContext = {
    client,
    args: Object.fromEntries(command.args.map((name, index) => [name, values[index]!])),
    flags,
    wallet: wallet.value ? { address: wallet.value.address, type: wallet.value.type } : undefined,
    keyPair: wallet.value,
    operatorToken: io.env(OPERATOR_TOKEN_ENV)?.trim() || undefined,
    json,
    print(data, human) {
      io.out(json ? JSON.stringify(data, null, 2) : human(data));
    },
    line: io.out,
  };
  try {
    return (await command.run(context)) ?? EXIT.ok;
  } catch (error) {
    if (error instanceof UsageError) return usage(io, error.message, command);
    if (error instanceof ApiClientError) {
      const where = error.status === 0 ? "no HTTP answer" : `HTTP ${error.status}`;
      io.err(`error ${error.errorCode} (${where}): ${error.message}`);
      return EXIT.failed;
    }
    io.err(`error: ${(error as Error).message ?? String(error)}`);
    return EXIT.failed;
  }
}

/** The command whose words begin `positionals`, the longest such. */
function findCommand(positionals: readonly string[]): Command | undefined {
  let found: Command | undefined;
  for (const command of COMMANDS) {
    const matches = command.words.every((word, index) => positionals[index] === word);
    if (matches && command.words.length > (found?.words.length ?? 0)) found = command;
  }
  return found;
}

/** A mistake in the environment rather than the command line: one line, exit status 2. */
function setupError(io: CliIo, message: string): number {
  io.err(`error: ${message}`);
  return EXIT.usage;
}

function usage(io: CliIo, message: string, command?: Command): number {
  io.err(`usage error: ${message}\n\n${helpText(command)}`);
  return EXIT.usage;
}
