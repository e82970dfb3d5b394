/**
 * A machine under the DBC chain's committee verification, read in this
 * node's terms (a ledger `Machine` with its validation round), so that the
 * check-VM decision (`node_service/validation/decision.ts`) lets a committee
 * member create the check VM in its own verification slots, as validators do
 * on the embedded ledger.
 *
 * From OnlineCommittee (spec 400): when a machine is distributed, three
 * members are booked (`MachineCommittee.booked_committee`, at `book_time`);
 * 36 hours are cut into 9 slots of 4 hours, and member i works in slots i,
 * i+3 and i+6 (`CommitteeOps(member, machine).verify_time`: the slots' start
 * blocks); a member that submitted its hash (`machine_status` Hashed or
 * Confirmed) has reported.
 */
import "./env_guard.ts";
import { encodeAddress } from "@polkadot/util-crypto";
import { z } from "zod";
import type { Machine, MachineConfig, MachineStatus, ValidatorOrder } from "../../mod/mod.ts";
import { type ChainAt, type ChainView, DBC_MS_PER_BLOCK, storageItem } from "./dbc_api.ts";

/** `dbc_support::ONE_HOUR` in blocks. */
const BLOCKS_PER_HOUR = 600;
/** `SUBMIT_HASH_END`: the round's 36 hours. */
export const COMMITTEE_ROUND_BLOCKS = 36 * BLOCKS_PER_HOUR;
/** `SUBMIT_RAW_START / DISTRIBUTION`: one verification slot, 4 hours. */
export const COMMITTEE_SLOT_BLOCKS = 4 * BLOCKS_PER_HOUR;
/** The chain's SS58 prefix. */
const SS58_PREFIX = 42;

/**
 * The size a check VM gets while the chain holds no hardware for the machine (the committee
 * writes it only when it confirms): the smallest, as the chain declares nothing to check whole.
 */
export const UNDECLARED_CONFIG: MachineConfig = {
  gpu_model: "undeclared",
  gpu_count: 0,
  cpu_model: "undeclared",
  cpu_cores: 1,
  memory_gib: 1,
  disk_gib: 1,
};

const Account = z.string();
const UploadInfoSchema = z.object({
  gpuType: z.string(),
  gpuNum: z.number().int(),
  cpuType: z.string(),
  cpuCoreNum: z.number().int(),
  memNum: z.number().int(),
  sysDisk: z.number().int(),
  dataDisk: z.number().int(),
});
const MachineInfoSchema = z.object({
  machineStash: Account,
  bondingHeight: z.number().int(),
  machineStatus: z.unknown(),
  machineInfoDetail: z.object({ committeeUploadInfo: UploadInfoSchema }),
});
const MachineCommitteeSchema = z.object({
  bookTime: z.number().int(),
  bookedCommittee: z.array(Account),
});
const CommitteeOpsSchema = z.object({
  verifyTime: z.array(z.number().int()),
  hashTime: z.number().int(),
  machineStatus: z.string(),
});

const STATUS_OF: Record<string, MachineStatus> = {
  addingcustomizeinfo: "unverified",
  distributingorder: "verifying",
  committeeverifying: "verifying",
  committeerefused: "failed",
  waitingfulfill: "verifying",
  online: "online",
  creating: "leased",
  rented: "leased",
};

/** The machine with its committee round, at the block `at` was made for; `undefined` if unknown. */
export async function readCommitteeMachine(
  at: ChainAt,
  view: ChainView,
  machineId: string,
): Promise<Machine | undefined> {
  const found = await storageItem(at, "onlineProfile", "machinesInfo")(machineId);
  if (found.isEmpty) return undefined;
  const info = MachineInfoSchema.parse(found.toJSON());
  const committeeFound = await storageItem(at, "onlineCommittee", "machineCommittee")(machineId);
  const committee = committeeFound.isEmpty
    ? undefined
    : MachineCommitteeSchema.parse(committeeFound.toJSON());
  const ops = await Promise.all(
    (committee?.bookedCommittee ?? []).map(async (member) =>
      CommitteeOpsSchema.parse(
        (await storageItem(at, "onlineCommittee", "committeeOps")(member, machineId)).toJSON(),
      )
    ),
  );
  return committeeMachine({ view, machineId, info, committee, ops });
}

/** Pure: the chain's records as a `Machine`. */
export function committeeMachine(input: {
  view: ChainView;
  machineId: string;
  info: z.infer<typeof MachineInfoSchema>;
  committee: z.infer<typeof MachineCommitteeSchema> | undefined;
  ops: z.infer<typeof CommitteeOpsSchema>[];
}): Machine {
  const { view, info, committee } = input;
  const timeOf = (block: number) => view.nowMs + (block - view.block) * DBC_MS_PER_BLOCK;
  const statusKey = typeof info.machineStatus === "string"
    ? info.machineStatus
    : Object.keys(info.machineStatus ?? {})[0] ?? "";
  const validators: ValidatorOrder[] = (committee?.bookedCommittee ?? []).map((member, index) => {
    const op = input.ops[index]!;
    const reported = op.machineStatus.toLowerCase() !== "booked";
    return {
      validator: encodeAddress(member, SS58_PREFIX),
      position: Math.min(index, 2),
      grabbed_at: timeOf(committee!.bookTime),
      slots: op.verifyTime.map((start) => ({
        starts_at: timeOf(start),
        ends_at: timeOf(start + COMMITTEE_SLOT_BLOCKS),
      })),
      report: null,
      reported_at: reported ? timeOf(op.hashTime) : null,
      confirms: null,
      mismatches: [],
    };
  });
  return {
    machine_id: input.machineId,
    owner: encodeAddress(info.machineStash, SS58_PREFIX),
    config: declaredConfig(info.machineInfoDetail.committeeUploadInfo),
    prices: { day: "0" },
    status: STATUS_OF[statusKey.toLowerCase()] ?? "failed",
    status_since: timeOf(info.bondingHeight),
    failure_reason: null,
    rental_id: null,
    registered_at: timeOf(info.bondingHeight),
    liveness: { last_seen_at: null, down_since: null },
    validation: {
      round: committee?.bookTime ?? 0,
      started_at: committee ? timeOf(committee.bookTime) : null,
      ends_at: committee ? timeOf(committee.bookTime + COMMITTEE_ROUND_BLOCKS) : null,
      validators,
    },
  };
}

function declaredConfig(upload: z.infer<typeof UploadInfoSchema>): MachineConfig {
  if (upload.cpuCoreNum < 1 || upload.memNum < 1) return UNDECLARED_CONFIG;
  const text = (hex: string) =>
    new TextDecoder().decode(
      Uint8Array.from(
        (hex.replace(/^0x/, "").match(/../g) ?? []).map((pair) => parseInt(pair, 16)),
      ),
    ).trim() || "undeclared";
  return {
    gpu_model: text(upload.gpuType).slice(0, 128),
    gpu_count: Math.min(upload.gpuNum, 64),
    cpu_model: text(upload.cpuType).slice(0, 128),
    cpu_cores: upload.cpuCoreNum,
    memory_gib: upload.memNum,
    disk_gib: Math.max(1, upload.sysDisk + upload.dataDisk),
  };
}
