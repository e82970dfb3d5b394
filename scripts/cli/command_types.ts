/**
 * What every CLI command is made of, apart from the commands themselves, so
 * that the files declaring commands (commands.ts, owner_commands.ts, ...)
 * share it without importing one another.
 */
import type { KeyringPair } from "@polkadot/keyring/types";
import type { ApiClient } from "../../http/mod.ts";
import type { FlagName, FlagValues } from "./args.ts";

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** A mistake in the command line: printed with the command's usage, exit status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export type CommandContext = {
  client: ApiClient;
  /** The positional arguments after the command's words, named as declared. */
  args: Record<string, string>;
  flags: FlagValues;
  wallet: { address: string; type: string } | undefined;
  /** The wallet's key pair, for what is signed outside the API (the chain's extrinsics). */
  keyPair?: KeyringPair;
  /** `DBC_OPERATOR_TOKEN`: the GPU node's operator token, for its owner's commands. */
  operatorToken?: string;
  /** Prints `data` as JSON under `--json`, else as `human(data)`. */
  print<T>(data: T, human: (data: T) => string): void;
  /** Prints one line as it is. */
  line(text: string): void;
  json: boolean;
};

export type Command = {
  words: readonly string[];
  args: readonly string[];
  flags: readonly FlagName[];
  required?: readonly FlagName[];
  summary: string;
  /**
   * `required`: refuse to run without a wallet; `optional`: sign when there is one; `renter`:
   * the wallet, or a delegated session (`DBC_SESSION`) of the renter, for instance operations.
   */
  wallet: "required" | "optional" | "renter";
  /** The exit status; `undefined` means success. */
  run(context: CommandContext): Promise<number | void>;
};
