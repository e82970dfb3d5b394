/**
 * A GPU machine made online on DBC's runtime (under chopsticks) the way the
 * chain itself leaves one after its committee verified it: the storage that
 * `online_profile::confirm_machine` and the online committee write, set by
 * pallet and item names, plus the chain-wide settings a rent needs and that
 * mainnet holds (the standard GPU price, the DBC price the oracle keeps, the
 * fixed transaction fee, the rent fee pot).
 */
import type { Chopsticks } from "./chopsticks.ts";

/** One DBC in the chain's smallest unit (15 decimals). */
export const DBC = 10n ** 15n;

/** Mainnet's fixed fee on each rent order (generic_func::FixedTxFee). */
export const FIXED_TX_FEE = 10n * DBC;
/** onlineProfile.standardGPUPointPrice: a machine's daily price is gpu_price * calc_point / gpu_point. */
export const STANDARD_GPU_POINT_PRICE = { gpuPoint: 1_000, gpuPrice: 28_229 };
/** dbcPriceOCW.avgPrice: USD per DBC times 10^6. */
export const DBC_AVG_PRICE = 1_000;
/** The chain's 6-second blocks: 10 a minute (dbc_support::ONE_MINUTE). */
export const BLOCKS_PER_MINUTE = 10;
export const MS_PER_BLOCK = 60_000 / BLOCKS_PER_MINUTE;
export const BLOCKS_PER_DAY = 24 * 60 * BLOCKS_PER_MINUTE;
/** RentMachine: the renter confirms within 15 minutes of renting (WAITING_CONFIRMING_DELAY). */
export const CONFIRM_WINDOW_BLOCKS = 15 * BLOCKS_PER_MINUTE;
/** Rent durations are whole half hours. */
export const HALF_HOUR_BLOCKS = 30 * BLOCKS_PER_MINUTE;

export type OnlineMachine = {
  machineId: string;
  stash: string;
  controller: string;
  gpuNum: number;
  calcPoint: number;
  /** The committee members that verified it (OnlineCommittee). */
  committee: string[];
  /**
   * `CommitteeVerifying`: booked to its committee, not yet online (the caller writes the round);
   * default `Online`.
   */
  status?: "Online" | "CommitteeVerifying";
};

/** Funds `accounts` with `free` each (System.Account). */
export async function fund(chain: Chopsticks, accounts: string[], free: bigint): Promise<void> {
  await chain.setStorage({
    System: {
      Account: accounts.map((account) => [[account], {
        providers: 1,
        data: { free: free.toString() },
      }]),
    },
  });
}

/** The chain-wide settings renting needs; mainnet has them, a genesis chain does not. */
export async function setRentSettings(chain: Chopsticks, rentFeePot: string): Promise<void> {
  await chain.setStorage({
    GenericFunc: { FixedTxFee: FIXED_TX_FEE.toString() },
    DbcPriceOCW: { AvgPrice: DBC_AVG_PRICE },
    OnlineProfile: { StandardGPUPointPrice: STANDARD_GPU_POINT_PRICE },
    RentMachine: { RentFeePot: rentFeePot },
  });
}

/** Writes `machine` as online, verified by its committee, at the head block. */
export async function makeMachineOnline(chain: Chopsticks, machine: OnlineMachine): Promise<void> {
  const head = await chain.head();
  const verifying = machine.status === "CommitteeVerifying";
  const id = [text(machine.machineId)];
  const uploadInfo = {
    machineId: text(machine.machineId),
    gpuType: text("GeForceRTX3080"),
    gpuNum: machine.gpuNum,
    cudaCore: 8_704,
    gpuMem: 10,
    calcPoint: machine.calcPoint,
    sysDisk: 500,
    dataDisk: 3_000,
    cpuType: text("Intel(R) Xeon(R) Silver 4214R"),
    cpuCoreNum: 48,
    cpuRate: 2_400,
    memNum: 256,
    randStr: text("abcdefg1"),
    isSupport: true,
  };
  await chain.setStorage({
    OnlineProfile: {
      MachinesInfo: [[[text(machine.machineId)], {
        controller: machine.controller,
        machineStash: machine.stash,
        renters: [],
        lastMachineRestake: head,
        bondingHeight: head,
        onlineHeight: head,
        lastOnlineHeight: head,
        initStakePerGpu: (100_000n * DBC).toString(),
        stakeAmount: (100_000n * DBC * BigInt(machine.gpuNum)).toString(),
        machineStatus: verifying ? { CommitteeVerifying: null } : { Online: null },
        totalRentedDuration: 0,
        totalRentedTimes: 0,
        totalRentFee: 0,
        totalBurnFee: 0,
        machineInfoDetail: {
          // The committee writes the hardware it saw when it confirms the machine.
          committeeUploadInfo: verifying ? { ...uploadInfo, cpuCoreNum: 0, memNum: 0 } : uploadInfo,
          stakerCustomizeInfo: {
            serverRoom: `0x${"11".repeat(32)}`,
            uploadNet: 10_000,
            downloadNet: 10_000,
            longitude: { East: 1_157_470 },
            latitude: { North: 399_080 },
            telecomOperators: [text("China Unicom")],
            isBareMachine: false,
          },
        },
        rewardCommittee: machine.committee,
        rewardDeadline: 365,
      }]],
      LiveMachines: {
        bondingMachine: [],
        confirmedMachine: [],
        bookedMachine: verifying ? id : [],
        onlineMachine: verifying ? [] : id,
        fulfillingMachine: [],
        refusedMachine: [],
        rentedMachine: [],
        offlineMachine: [],
        refusedMutHardwareMachine: [],
      },
      MachineRentedGPU: [[[text(machine.machineId)], 0]],
    },
    Committee: {
      Committee: {
        normal: machine.committee,
        chillList: [],
        waitingBoxPubkey: [],
        fulfillingList: [],
      },
    },
    ...(verifying ? {} : {
      OnlineCommittee: {
        MachineCommittee: [[[text(machine.machineId)], {
          bookTime: head,
          bookedCommittee: machine.committee,
          hashedCommittee: machine.committee,
          confirmStartTime: head,
          confirmedCommittee: machine.committee,
          onlinedCommittee: machine.committee,
          status: "Finished",
        }]],
      },
    }),
  });
}

/** Text as the chain's `Vec<u8>` in polkadot-js JSON (hex of its UTF-8 bytes). */
export function text(value: string): string {
  return `0x${
    Array.from(new TextEncoder().encode(value), (byte) => byte.toString(16).padStart(2, "0")).join(
      "",
    )
  }`;
}

/** OnlineCommittee: a round's 36 hours cut into 9 verification slots of 4 hours. */
export const COMMITTEE_SLOTS = 9;
export const COMMITTEE_SLOT_BLOCKS = 4 * 60 * BLOCKS_PER_MINUTE;

export type BookedMember = {
  account: string;
  /** `Hashed`: it submitted its hash (it has reported); default `Booked`. */
  status?: "Booked" | "Hashed";
};

/**
 * Books `members` to verify `machineId` at block `booked`, as `online_committee::book_one`
 * leaves it: member i works in slots i, i+3 and i+6 from that block; none has confirmed yet.
 * The machine must be `CommitteeVerifying` ({@link makeMachineOnline}).
 */
export async function bookCommittee(
  chain: Chopsticks,
  machineId: string,
  members: BookedMember[],
  booked: number,
): Promise<void> {
  const opsOf = (index: number, status: "Booked" | "Hashed") => ({
    stakedDbc: (1_000n * DBC).toString(),
    verifyTime: [index, index + 3, index + 6].map((slot) => booked + slot * COMMITTEE_SLOT_BLOCKS),
    confirmHash: `0x${"00".repeat(16)}`,
    hashTime: status === "Hashed" ? booked : 0,
    confirmTime: 0,
    machineStatus: status,
    machineInfo: {
      machineId: "0x",
      gpuType: "0x",
      gpuNum: 0,
      cudaCore: 0,
      gpuMem: 0,
      calcPoint: 0,
      sysDisk: 0,
      dataDisk: 0,
      cpuType: "0x",
      cpuCoreNum: 0,
      cpuRate: 0,
      memNum: 0,
      randStr: "0x",
      isSupport: false,
    },
  });
  const accounts = members.map((member) => member.account);
  await chain.setStorage({
    OnlineCommittee: {
      MachineCommittee: [[[text(machineId)], {
        bookTime: booked,
        bookedCommittee: accounts,
        hashedCommittee: members.filter((member) => member.status === "Hashed")
          .map((member) => member.account),
        confirmStartTime: booked + COMMITTEE_SLOTS * COMMITTEE_SLOT_BLOCKS,
        confirmedCommittee: [],
        onlinedCommittee: [],
        status: "SubmittingHash",
      }]],
      CommitteeOps: members.map((member, index) => [
        [member.account, text(machineId)],
        opsOf(index, member.status ?? "Booked"),
      ]),
    },
  });
}

/**
 * Sets the chain's clock (Timestamp.Now) so that a new head block, built here, is stamped `ms`:
 * mainnet's block times follow the wall clock, a chain under chopsticks adds 6 s a block from
 * wherever it started, and a GPU node compares the chain's slot times with its own clock.
 */
export async function setChainClock(chain: Chopsticks, ms: number): Promise<void> {
  await chain.setStorage({ Timestamp: { Now: ms - MS_PER_BLOCK } });
  await chain.newBlocks(1);
}
