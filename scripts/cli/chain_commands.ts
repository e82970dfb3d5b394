/**
 * The renter's commands on the DBC chain itself (`--chain ws://...`): `rent`
 * submits `rentMachine.rentMachine` signed by the wallet (GPU count,
 * duration), `confirm` confirms the order once the renter's instance runs,
 * `renew` extends it with `reletMachine`. Each prints the order, the fees and
 * the block the rent ends at, after its block is in. With `--multisig` and
 * `--threshold`, the wallet approves the call for the multisig account
 * (`multisig.asMulti`); the threshold-th approval runs it.
 */
import type { KeyringPair } from "@polkadot/keyring/types";
import {
  ChainRefusal,
  CONFIRM_WINDOW_BLOCKS,
  DBC_MS_PER_BLOCK,
  DbcConnection,
  DbcRenter,
  RENT_STEP_BLOCKS,
  type RentOrder,
  type WriteResult,
} from "../../node_service/chain/mod.ts";
import type { FlagValues } from "./args.ts";
import { type Command, type CommandContext, UsageError } from "./command_types.ts";

/** The chain's smallest unit per DBC (15 decimals). */
const DBC_PLANCKS = 10n ** 15n;
const SECONDS_PER_UNIT = { second: 1, hour: 3_600, day: 86_400 } as const;
/** How long the CLI waits for the chain to answer a read. */
const CHAIN_TIMEOUT_MS = 30_000;

/** `--period N --unit u` in the chain's 6-second blocks. */
export function durationBlocks(flags: FlagValues): number {
  const unit = flags.unit as string;
  const seconds = SECONDS_PER_UNIT[unit as keyof typeof SECONDS_PER_UNIT];
  if (seconds === undefined) {
    throw new UsageError(`--unit: expected one of ${Object.keys(SECONDS_PER_UNIT).join(", ")}`);
  }
  const total = (flags.period as number) * seconds;
  if (total % (DBC_MS_PER_BLOCK / 1_000) !== 0) {
    throw new UsageError(`the chain counts time in ${DBC_MS_PER_BLOCK / 1_000}-second blocks`);
  }
  return total / (DBC_MS_PER_BLOCK / 1_000);
}

/** DBC with its decimals: 1176000000000000 -> "1.176 DBC". */
export function formatDbc(plancks: bigint): string {
  const whole = plancks / DBC_PLANCKS;
  const fraction = (plancks % DBC_PLANCKS).toString().padStart(15, "0").replace(/0+$/, "");
  return `${whole}${fraction ? `.${fraction}` : ""} DBC`;
}

/** Runs `work` with a renter on the chain `--chain` names, closing the connection after. */
async function withRenter<T>(
  context: CommandContext,
  work: (renter: DbcRenter) => Promise<T>,
): Promise<T> {
  const url = chainUrl(context.flags);
  const wallet = context.keyPair;
  if (!wallet) {
    throw new UsageError("the chain needs a wallet: set DBC_WALLET_URI or DBC_WALLET_MNEMONIC");
  }
  const connection = new DbcConnection(url, { timeoutMs: CHAIN_TIMEOUT_MS });
  try {
    const api = await connection.api();
    return await work(
      new DbcRenter(api, wallet as KeyringPair, { multisig: multisigOf(context.flags) }),
    );
  } finally {
    await connection.close();
  }
}

function chainUrl(flags: FlagValues): string {
  const url = flags.chain as string;
  if (!/^wss?:\/\/[^\s/]+/.test(url)) {
    throw new UsageError(`--chain: expected a ws:// or wss:// URL, got ${url}`);
  }
  return url;
}

function multisigOf(flags: FlagValues) {
  if (flags.multisig === undefined && flags.threshold === undefined) return undefined;
  if (flags.multisig === undefined || flags.threshold === undefined) {
    throw new UsageError("--multisig and --threshold go together");
  }
  const signatories = (flags.multisig as string).split(",").map((item) => item.trim()).filter(
    (item) => item !== "",
  );
  return { signatories, threshold: flags.threshold as number };
}

function rentIdOf(text: string): bigint {
  if (!/^\d{1,19}$/.test(text)) {
    throw new UsageError(`rental_id: expected the chain's order number`);
  }
  return BigInt(text);
}

/** What a chain write printed: where it landed and the order after it. */
type ChainAnswer = {
  outcome: WriteResult["outcome"];
  block: number;
  renter: string;
  order?: Record<string, unknown>;
  fees?: Record<string, string>;
  note?: string;
};

function orderJson(order: RentOrder | undefined, block: number) {
  if (!order) return undefined;
  return {
    rental_id: order.rentId.toString(),
    machine_id: order.machineId,
    status: order.status,
    gpu_num: order.gpuNum,
    gpu_index: order.gpuIndex,
    rent_start_block: order.rentStart,
    rent_end_block: order.rentEnd,
    ends_in: formatMinutes(Math.max(0, order.rentEnd - block) * DBC_MS_PER_BLOCK / 60_000),
    ...(order.status === "WaitingVerifying"
      ? { confirm_by_block: order.rentStart + CONFIRM_WINDOW_BLOCKS }
      : {}),
  };
}

/** 90 -> "90 min", 1560 -> "26 h". */
export function formatMinutes(minutes: number): string {
  return minutes < 120
    ? `${Math.round(minutes * 10) / 10} min`
    : `${Math.round(minutes / 6) / 10} h`;
}

function txFee(done: WriteResult): string | undefined {
  const paid = done.eventData.find((event) =>
    event.name === "transactionPayment.TransactionFeePaid"
  );
  const amount = paid?.data[1];
  return typeof amount === "number" || typeof amount === "string"
    ? formatDbc(BigInt(amount))
    : undefined;
}

function formatAnswer(answer: ChainAnswer): string {
  const lines = [
    answer.outcome === "approved"
      ? `approved in block ${answer.block}; the call runs when the threshold of signatories approved it`
      : `in block ${answer.block}`,
    `renter: ${answer.renter}`,
  ];
  for (const [key, value] of Object.entries(answer.order ?? {})) {
    lines.push(`${key}: ${Array.isArray(value) ? value.join(",") : value}`);
  }
  for (const [key, value] of Object.entries(answer.fees ?? {})) lines.push(`${key}: ${value}`);
  if (answer.note) lines.push(answer.note);
  return lines.join("\n");
}

/** `rent <machine_id> --chain <url> --period N --unit u [--gpus N]` */
export async function chainRent(context: CommandContext): Promise<void> {
  const blocks = durationBlocks(context.flags);
  if (blocks % RENT_STEP_BLOCKS !== 0) {
    throw new UsageError(
      "the chain rents whole half hours: --period N --unit hour, or 1800 seconds",
    );
  }
  await withRenter(context, async (renter) => {
    const machineId = context.args.machine_id!;
    let gpus = context.flags.gpus as number | undefined;
    if (gpus === undefined) {
      const { total, rented } = await renter.machineGpus(machineId);
      gpus = total - rented;
    }
    if (gpus < 1) throw new ChainRefusal("no free GPU", `${machineId} has no free GPU to rent`);
    const done = await renter.rent({ machineId, gpus, blocks });
    context.print(
      {
        outcome: done.outcome,
        block: done.blockNumber,
        renter: renter.renter,
        order: orderJson(done.order, done.blockNumber),
        fees: {
          ...(done.reserved !== undefined ? { rent_fee_reserved: formatDbc(done.reserved) } : {}),
          ...(txFee(done) ? { transaction_fee: txFee(done)! } : {}),
          order_fee: "10 DBC (the chain's fixed fee per order)",
        },
        note: done.order
          ? `confirm with \`confirm ${done.order.rentId} --chain ...\` once your instance runs, ` +
            `by block ${done.order.rentStart + CONFIRM_WINDOW_BLOCKS} (15 minutes); unconfirmed, ` +
            "the chain cancels the order then and returns the reserved fee"
          : undefined,
      } satisfies ChainAnswer,
      formatAnswer,
    );
  });
}

/** `confirm <rental_id> --chain <url>` */
export async function chainConfirm(context: CommandContext): Promise<void> {
  await withRenter(context, async (renter) => {
    const done = await renter.confirm(rentIdOf(context.args.rental_id!));
    context.print(
      {
        outcome: done.outcome,
        block: done.blockNumber,
        renter: renter.renter,
        order: orderJson(done.order, done.blockNumber),
        fees: txFee(done) ? { transaction_fee: txFee(done)! } : {},
        note: "the reserved rent fee is paid to the machine's owner",
      } satisfies ChainAnswer,
      formatAnswer,
    );
  });
}

/** `renew <rental_id> --chain <url> --period N --unit u` */
export async function chainRenew(context: CommandContext): Promise<void> {
  const blocks = durationBlocks(context.flags);
  await withRenter(context, async (renter) => {
    const rentId = rentIdOf(context.args.rental_id!);
    const done = await renter.renew(rentId, blocks);
    const relet = done.eventData.find((event) => event.name === "rentMachine.Relet");
    const paid = relet?.data[5];
    context.print(
      {
        outcome: done.outcome,
        block: done.blockNumber,
        renter: renter.renter,
        order: orderJson(done.order, done.blockNumber),
        fees: {
          ...(typeof paid === "number" || typeof paid === "string"
            ? { rent_fee_paid: formatDbc(BigInt(paid)) }
            : {}),
          ...(txFee(done) ? { transaction_fee: txFee(done)! } : {}),
        },
      } satisfies ChainAnswer,
      formatAnswer,
    );
  });
}

export function chainCommands(): Command[] {
  return [{
    words: ["confirm"],
    args: ["rental_id"],
    flags: ["chain", "multisig", "threshold"],
    required: ["chain"],
    summary: "confirm a rent order on the DBC chain once your instance runs (within 15 minutes)",
    wallet: "required",
    run: chainConfirm,
  }];
}
