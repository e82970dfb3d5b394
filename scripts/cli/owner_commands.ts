/**
 * The commands of a machine's owner and of the ledger's admin: register a
 * GPU node (its operator API makes the registration and its node key signs
 * it; the owner's wallet signs the request), fund an account, read a
 * balance.
 */
import {
  type MachineConfig,
  MachineConfigSchema,
  normalizeAccount,
  type RentPrices,
  RentPricesSchema,
} from "../../mod/mod.ts";
import type { FlagValues } from "./args.ts";
import { type Command, UsageError } from "./command_types.ts";
import { keyValues } from "./format.ts";

export function ownerCommands(): Command[] {
  return [
    {
      words: ["machine", "register"],
      args: [],
      flags: ["prices", "declare"],
      summary:
        "register the GPU node at --api (its own loopback API, DBC_OPERATOR_TOKEN) in the ledger, for the wallet that owns it",
      wallet: "required",
      async run(context) {
        const token = context.operatorToken;
        if (!token) {
          throw new UsageError(
            "set DBC_OPERATOR_TOKEN to the GPU node's operator token (<data_dir>/operator.token)",
          );
        }
        const { owner, registration } = await context.client.operatorRegistration(token, {
          prices: prices(context.flags),
          config: declared(context.flags),
        });
        if (normalizeAccount(owner) !== normalizeAccount(context.wallet!.address)) {
          throw new Error(
            `the node's owner_wallet is ${owner}, not this wallet (${context.wallet!.address}): ` +
              "sign with the owner's wallet, or set owner_wallet on the node",
          );
        }
        const machine = await context.client.registerMachine(registration);
        context.print(machine, (data) =>
          keyValues({
            machine_id: data.machine_id,
            owner: data.owner,
            status: data.status,
            config: data.config,
            prices: data.prices,
          }));
      },
    },
    {
      words: ["ledger", "fund"],
      args: ["account", "amount"],
      flags: [],
      summary: "credit an account in the ledger (a ledger admin's wallet signs)",
      wallet: "required",
      async run(context) {
        const amount = context.args.amount!;
        if (!/^[1-9][0-9]{0,37}$/.test(amount)) {
          throw new UsageError("<amount>: a positive whole number (the smallest currency unit)");
        }
        context.print(await context.client.fund(context.args.account!, amount), keyValues);
      },
    },
    {
      words: ["balance"],
      args: [],
      flags: ["account"],
      summary: "an account's balance in the ledger and its latest changes (default: the wallet's)",
      wallet: "optional",
      async run(context) {
        const account = (context.flags.account as string | undefined) ?? context.wallet?.address;
        if (!account) throw new UsageError("give --account, or set a wallet");
        context.print(await context.client.balance(account), (data) =>
          [
            `${data.account}: ${data.balance}`,
            ...data.entries.map((entry) =>
              `  ${new Date(entry.at).toISOString()}  ${entry.kind.padEnd(5)}  ${
                entry.delta.padStart(12)
              }  -> ${entry.balance}${
                entry.rental_id === null ? "" : `  rental ${entry.rental_id}`
              }${entry.counterparty ? `  ${entry.counterparty}` : ""}`
            ),
          ].join("\n"));
      },
    },
  ];
}

/** `--prices hour=1000,day=20000`. */
function prices(flags: FlagValues): RentPrices | undefined {
  const text = flags.prices as string | undefined;
  if (text === undefined) return undefined;
  const parsed = RentPricesSchema.safeParse(pairs(text, "--prices"));
  if (!parsed.success) {
    throw new UsageError(`--prices: ${parsed.error.issues[0]?.message ?? "bad prices"}`);
  }
  return parsed.data;
}

/** `--declare memory_gib=8,disk_gib=100`. */
function declared(flags: FlagValues): Partial<MachineConfig> | undefined {
  const text = flags.declare as string | undefined;
  if (text === undefined) return undefined;
  const raw = pairs(text, "--declare");
  const typed: Record<string, string | number> = {};
  for (const [key, value] of Object.entries(raw)) {
    typed[key] = /_(gib|count|cores)$/.test(key) ? Number(value) : value;
  }
  const parsed = MachineConfigSchema.partial().safeParse(typed);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UsageError(
      `--declare: ${issue?.path.join(".") || "(whole)"}: ${issue?.message ?? "bad value"}`,
    );
  }
  return parsed.data;
}

function pairs(text: string, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(",")) {
    const equals = part.indexOf("=");
    if (equals <= 0) throw new UsageError(`${flag}: expected name=value pairs, got "${part}"`);
    out[part.slice(0, equals).trim()] = part.slice(equals + 1).trim();
  }
  return out;
}
