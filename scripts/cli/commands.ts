/**
 * The renter CLI's commands, declared once: the words that name each, its
 * positional arguments, the flags it takes, whether it needs the wallet, and
 * what it does through the {@link ApiClient}. Help text and argument checks
 * come from the same declarations.
 */
import {
  type ApiClient,
  CONTAINER_ACTIONS,
  type ContainerAction,
  finalOperationState,
  type JsonObject,
  type LogRange,
  OPERATION_ERROR_EVENT,
  SNAPSHOT_ACTIONS,
  VM_ACTIONS,
  type VmAction,
} from "../../http/mod.ts";
import { MACHINE_STATUSES, type MachineStatus, RENT_UNITS, type RentUnit } from "../../mod/mod.ts";
import { type FlagName, FLAGS, type FlagValues, splitWords } from "./args.ts";
import { type Command, type CommandContext, EXIT, UsageError } from "./command_types.ts";
import { ownerCommands } from "./owner_commands.ts";
import { validateCommands } from "./validate_command.ts";
import { imageServerCommands } from "./image_server_commands.ts";
import { lanCommands } from "./lan_commands.ts";
import { chainCommands, chainRenew, chainRent } from "./chain_commands.ts";
import {
  eventAsJson,
  formatEvent,
  formatInstances,
  formatLedgerMachines,
  formatLogs,
  formatMiningNode,
  formatMiningNodes,
  formatNode,
  formatPeers,
  formatRental,
  formatSnapshots,
  keyValues,
} from "./format.ts";

/** What a VM gets when the command line does not say. */
export const VM_DEFAULTS = { gpus: 0, cpus: 1, memoryGib: 1 } as const;
/** The most log lines one request returns (the node's limit). */
export const MAX_LOG_LINES = 100;

export { type Command, type CommandContext, EXIT, UsageError } from "./command_types.ts";
/** Flags every command takes. */
export const GLOBAL_FLAGS: readonly FlagName[] = ["json", "api", "help"];

export const COMMANDS: readonly Command[] = [
  {
    words: ["whoami"],
    args: [],
    flags: [],
    summary: "the wallet's address (from DBC_WALLET_URI or DBC_WALLET_MNEMONIC)",
    wallet: "required",
    run(context) {
      context.print(context.wallet!, (wallet) => wallet.address);
      return Promise.resolve();
    },
  },
  {
    words: ["node"],
    args: [],
    flags: [],
    summary: "the node the CLI talks to: id, role, version, workers, GPUs",
    wallet: "optional",
    async run(context) {
      context.print(await context.client.node(), (info) => formatNode(info));
    },
  },
  {
    words: ["peers"],
    args: [],
    flags: ["global"],
    summary: "the node's connected peers (--global: its whole address book)",
    wallet: "optional",
    async run(context) {
      const list = context.flags.global
        ? await context.client.globalPeers()
        : await context.client.peers();
      context.print(list, (data) => formatPeers(data));
    },
  },
  {
    words: ["machines"],
    args: [],
    flags: [],
    summary: "the network's GPU nodes: GPUs, CPU, memory, disk, state, price",
    wallet: "optional",
    async run(context) {
      context.print(await context.client.miningNodes(), formatMiningNodes);
    },
  },
  {
    words: ["machine"],
    args: ["node_id"],
    flags: [],
    summary: "one GPU node's configuration",
    wallet: "optional",
    async run(context) {
      context.print(await context.client.miningNode(context.args.node_id!), formatMiningNode);
    },
  },
  {
    words: ["ledger", "machines"],
    args: [],
    flags: ["state", "owner"],
    summary: "machines registered in the ledger, optionally in one state or of one owner",
    wallet: "optional",
    async run(context) {
      const state = context.flags.state as string | undefined;
      if (state !== undefined && !(MACHINE_STATUSES as readonly string[]).includes(state)) {
        throw new UsageError(`--state: expected one of ${MACHINE_STATUSES.join(", ")}`);
      }
      const list = await context.client.ledgerMachines({
        status: state as MachineStatus | undefined,
        owner: context.flags.owner as string | undefined,
      });
      context.print(list, (data) => formatLedgerMachines(data));
    },
  },
  {
    words: ["ledger", "machine"],
    args: ["machine_id"],
    flags: [],
    summary: "one machine in the ledger with its validation round",
    wallet: "optional",
    async run(context) {
      context.print(await context.client.ledgerMachine(context.args.machine_id!), keyValues);
    },
  },
  ...ownerCommands(),
  ...validateCommands(),
  ...imageServerCommands(),
  ...lanCommands(),
  ...chainCommands(),
  {
    words: ["rent"],
    args: ["machine_id"],
    flags: ["period", "unit", "chain", "gpus", "multisig", "threshold"],
    required: ["period", "unit"],
    summary:
      "rent an online machine for N seconds, hours or days; with --chain, on the DBC chain " +
      "(--gpus, default all free; whole half hours)",
    wallet: "required",
    async run(context) {
      if (context.flags.chain !== undefined) return await chainRent(context);
      const rental = await context.client.rent({
        machine_id: context.args.machine_id!,
        unit: rentUnit(context.flags),
        count: context.flags.period as number,
      });
      context.print(rental, formatRental);
    },
  },
  {
    words: ["renew"],
    args: ["rental_id"],
    flags: ["period", "unit", "chain", "multisig", "threshold"],
    required: ["period", "unit"],
    summary: "renew a rental by N seconds, hours or days; with --chain, the chain's order",
    wallet: "required",
    async run(context) {
      if (context.flags.chain !== undefined) return await chainRenew(context);
      const rental = await context.client.renew(rentalId(context.args.rental_id!), {
        unit: rentUnit(context.flags),
        count: context.flags.period as number,
      });
      context.print(rental, formatRental);
    },
  },
  {
    words: ["rental"],
    args: ["rental_id"],
    flags: [],
    summary: "one rental: renter, period, amount, payments",
    wallet: "optional",
    async run(context) {
      context.print(await context.client.rental(rentalId(context.args.rental_id!)), formatRental);
    },
  },
  {
    words: ["vm", "create"],
    args: [],
    flags: [
      "node",
      "image",
      "gpus",
      "cpus",
      "memory-gib",
      "disk-gib",
      "ssh-key",
      "password",
      "lan",
    ],
    required: ["node", "image"],
    summary:
      `create a VM on a GPU node you rent (defaults: ${VM_DEFAULTS.gpus} GPUs, ${VM_DEFAULTS.cpus} CPU, ${VM_DEFAULTS.memoryGib} GiB); prints its task and operation ids`,
    wallet: "renter",
    async run(context) {
      const flags = context.flags;
      const accepted = await context.client.createVm(flags.node as string, {
        image_name: flags.image as string,
        gpu_count: (flags.gpus as number | undefined) ?? VM_DEFAULTS.gpus,
        cpu_cores: (flags.cpus as number | undefined) ?? VM_DEFAULTS.cpus,
        mem_size: (flags["memory-gib"] as number | undefined) ?? VM_DEFAULTS.memoryGib,
        disk_size: flags["disk-gib"] as number | undefined,
        ssh_key: flags["ssh-key"] as string | undefined,
        password: flags.password as string | undefined,
        ...(flags.lan === undefined ? {} : { network_name: flags.lan as string }),
      });
      context.print(accepted, keyValues);
    },
  },
  ...sessionCommands(),
  ...instanceCommands("vm", VM_ACTIONS),
  {
    words: ["vm", "modify"],
    args: ["task_id"],
    flags: ["node", "cpus", "memory-gib", "disk-gib", "ssh-port"],
    required: ["node"],
    summary: "change a stopped VM's CPUs, memory, disk size (it only grows) or SSH port",
    wallet: "renter",
    async run(context) {
      const flags = context.flags;
      const fields = {
        cpu_cores: flags.cpus as number | undefined,
        mem_size: flags["memory-gib"] as number | undefined,
        disk_size: flags["disk-gib"] as number | undefined,
        ssh_port: flags["ssh-port"] as number | undefined,
      };
      if (Object.values(fields).every((value) => value === undefined)) {
        throw new UsageError("give at least one of --cpus, --memory-gib, --disk-gib, --ssh-port");
      }
      const answer = await context.client.modifyVm(
        flags.node as string,
        context.args.task_id!,
        fields,
      );
      context.print(answer, keyValues);
    },
  },
  ...snapshotCommands(),
  {
    words: ["container", "create"],
    args: [],
    flags: ["node", "image", "gpus", "cpus", "memory-gib", "cmd", "ssh"],
    required: ["node", "image"],
    summary: "create a container on a GPU node you rent; prints its id and operation id",
    wallet: "renter",
    async run(context) {
      const flags = context.flags;
      let command: string[] | undefined;
      if (flags.cmd !== undefined) {
        const words = splitWords(flags.cmd as string);
        if (!words.ok) throw new UsageError(`--cmd: ${words.message}`);
        command = words.value;
      }
      const accepted = await context.client.createContainer(flags.node as string, {
        image: flags.image as string,
        command,
        gpu_count: (flags.gpus as number | undefined) ?? VM_DEFAULTS.gpus,
        cpu_cores: flags.cpus as number | undefined,
        mem_size: flags["memory-gib"] as number | undefined,
        ssh: flags.ssh === true ? true : undefined,
      });
      context.print(accepted, keyValues);
    },
  },
  ...instanceCommands("container", CONTAINER_ACTIONS),
  {
    words: ["operation"],
    args: ["operation_id"],
    flags: ["node"],
    required: ["node"],
    summary: "where a long operation (a create) stands",
    wallet: "optional",
    async run(context) {
      const answer = await context.client.operation(
        context.flags.node as string,
        context.args.operation_id!,
      );
      context.print(answer, keyValues);
    },
  },
  {
    words: ["watch"],
    args: ["operation_id"],
    flags: ["node"],
    required: ["node"],
    summary:
      "follow a long operation's progress until it is done (exit 0) or failed (exit 1); --json: one JSON line per event",
    wallet: "optional",
    async run(context) {
      let last: string | undefined;
      for await (
        const event of context.client.operationEvents(
          context.flags.node as string,
          context.args.operation_id!,
        )
      ) {
        context.line(context.json ? eventAsJson(event) : formatEvent(event));
        last = finalOperationState(event) ?? event.event;
      }
      if (last === "done") return EXIT.ok;
      if (last === "failed") return EXIT.failed;
      if (last === OPERATION_ERROR_EVENT) throw new Error("the node cannot follow this operation");
      throw new Error("the event stream ended before the operation finished");
    },
  },
];

/** list, get, the actions and logs of VMs (`/api/v1/tasks`) or containers (`/api/v1/containers`). */
function instanceCommands(
  kind: "vm" | "container",
  actions: readonly (VmAction | ContainerAction)[],
): Command[] {
  const what = kind === "vm" ? "VM" : "container";
  const id = kind === "vm" ? "task_id" : "container_id";
  const api = {
    list: (client: ApiClient, node: string) =>
      kind === "vm" ? client.listVms(node) : client.listContainers(node),
    get: (client: ApiClient, node: string, target: string) =>
      kind === "vm" ? client.getVm(node, target) : client.getContainer(node, target),
    act: (
      client: ApiClient,
      node: string,
      target: string,
      action: VmAction | ContainerAction,
      force: boolean,
    ) =>
      kind === "vm"
        ? client.vmAction(node, target, action, { force })
        : client.containerAction(node, target, action as ContainerAction),
    logs: (client: ApiClient, node: string, target: string, range: LogRange) =>
      kind === "vm"
        ? client.vmLogs(node, target, range)
        : client.containerLogs(node, target, range),
  };
  const node = (context: CommandContext) => context.flags.node as string;
  return [
    {
      words: [kind, "list"],
      args: [],
      flags: ["node"],
      required: ["node"],
      summary: `your ${what}s on a GPU node`,
      wallet: "renter",
      async run(context) {
        context.print(await api.list(context.client, node(context)), formatInstances);
      },
    },
    {
      words: [kind, "get"],
      args: [id],
      flags: ["node"],
      required: ["node"],
      summary: `one ${what}: state, addresses, login details`,
      wallet: "renter",
      async run(context) {
        const answer = await api.get(context.client, node(context), context.args[id]!);
        context.print(answer, keyValues);
      },
    },
    ...actions.map((action): Command => ({
      words: [kind, action],
      args: [id],
      flags: kind === "vm" && action === "stop" ? ["node", "force"] : ["node"],
      required: ["node"],
      summary: `${action} a ${what}`,
      wallet: "renter",
      async run(context) {
        const answer: JsonObject = await api.act(
          context.client,
          node(context),
          context.args[id]!,
          action,
          context.flags.force === true,
        );
        context.print(answer, keyValues);
      },
    })),
    {
      words: [kind, "logs"],
      args: [id],
      flags: ["node", "tail", "head"],
      required: ["node"],
      summary:
        `the last (--tail N, default ${MAX_LOG_LINES}) or first (--head N) lines of a ${what}'s log`,
      wallet: "renter",
      async run(context) {
        const { tail, head } = context.flags;
        if (tail !== undefined && head !== undefined) {
          throw new UsageError("give --tail or --head, not both");
        }
        const lines = Math.min((tail ?? head ?? MAX_LOG_LINES) as number, MAX_LOG_LINES);
        const range: LogRange = { from: head !== undefined ? "head" : "tail", lines };
        const answer = await api.logs(context.client, node(context), context.args[id]!, range);
        context.print(answer, formatLogs);
      },
    },
  ];
}

/** `vm snapshot list|get|create|delete|restore`: snapshots of a VM's disk (`/api/v1/snapshot`). */
function snapshotCommands(): Command[] {
  const node = (context: CommandContext) => context.flags.node as string;
  return [
    {
      words: ["vm", "snapshot", "list"],
      args: ["task_id"],
      flags: ["node"],
      required: ["node"],
      summary: "a VM's snapshots, oldest first",
      wallet: "renter",
      async run(context) {
        const answer = await context.client.listSnapshots(node(context), context.args.task_id!);
        context.print(answer, formatSnapshots);
      },
    },
    {
      words: ["vm", "snapshot", "get"],
      args: ["task_id", "name"],
      flags: ["node"],
      required: ["node"],
      summary: "one snapshot of a VM",
      wallet: "renter",
      async run(context) {
        const answer = await context.client.getSnapshot(
          node(context),
          context.args.task_id!,
          context.args.name!,
        );
        context.print(answer, keyValues);
      },
    },
    {
      words: ["vm", "snapshot", "create"],
      args: ["task_id", "name"],
      flags: ["node", "description"],
      required: ["node"],
      summary: "take a snapshot of a stopped VM's disk",
      wallet: "renter",
      async run(context) {
        const answer = await context.client.createSnapshot(node(context), context.args.task_id!, {
          name: context.args.name!,
          description: context.flags.description as string | undefined,
        });
        context.print(answer, keyValues);
      },
    },
    ...SNAPSHOT_ACTIONS.map((action): Command => ({
      words: ["vm", "snapshot", action],
      args: ["task_id", "name"],
      flags: ["node"],
      required: ["node"],
      summary: action === "restore"
        ? "put a stopped VM's disk back as the snapshot saw it"
        : "delete a snapshot of a stopped VM",
      wallet: "renter",
      async run(context) {
        const answer = await context.client.snapshotAction(
          node(context),
          context.args.task_id!,
          context.args.name!,
          action,
        );
        context.print(answer, keyValues);
      },
    })),
  ];
}

function rentUnit(flags: FlagValues): RentUnit {
  const unit = flags.unit as string;
  if (!(RENT_UNITS as readonly string[]).includes(unit)) {
    throw new UsageError(`--unit: expected one of ${RENT_UNITS.join(", ")}`);
  }
  return unit as RentUnit;
}

function rentalId(text: string): number {
  if (!/^[1-9]\d{0,14}$/.test(text)) throw new UsageError(`rental_id: expected a number from 1`);
  return Number(text);
}

/** `vm create --node <node> --image <image> [--gpus N] ...` */
export function usageLine(command: Command): string {
  const parts = [...command.words, ...command.args.map((arg) => `<${arg}>`)];
  for (const flag of command.flags) {
    const kind: string = FLAGS[flag].kind;
    const placeholder = kind === "boolean" ? "" : kind === "string" ? ` <${flag}>` : " N";
    const text = `--${flag}${placeholder}`;
    parts.push(command.required?.includes(flag) ? text : `[${text}]`);
  }
  return parts.join(" ");
}

/** The whole help text, or one command's. */
export function helpText(command?: Command): string {
  const environment = [
    "Environment:",
    "  DBC_API              the node's API (default http://127.0.0.1:8080; --api overrides)",
    "  DBC_WALLET_URI       the wallet as a secret URI, e.g. //Alice for a dev account",
    "  DBC_WALLET_MNEMONIC  the wallet as a BIP-39 mnemonic",
    "  DBC_WALLET_TYPE      sr25519 (default) or ed25519",
    "  DBC_SESSION          a renter's delegated session, instead of a wallet, for vm/container commands",
    "  DBC_OPERATOR_TOKEN   the GPU node's operator token (<data_dir>/operator.token), for machine register",
  ];
  const options = [
    "Options of every command:",
    ...GLOBAL_FLAGS.map((flag) => `  --${flag.padEnd(6)}  ${FLAGS[flag].help}`),
  ];
  if (command) {
    const flagHelp = command.flags.map((flag) => `  --${flag.padEnd(11)}  ${FLAGS[flag].help}`);
    return [
      `usage: deno task cli ${usageLine(command)}`,
      "",
      command.summary,
      ...(flagHelp.length > 0 ? ["", ...flagHelp] : []),
      "",
      ...options,
    ].join("\n");
  }
  const lines = COMMANDS.flatMap((item) => [`  ${usageLine(item)}`, `      ${item.summary}`]);
  return [
    "usage: deno task cli <command> [options]",
    "",
    "The renter's command line for a DBC node's HTTP API. Requests are signed with the wallet",
    "from the environment; answers print as tables, or as JSON with --json.",
    "",
    "Commands:",
    ...lines,
    "",
    ...options,
    "",
    ...environment,
    "",
    "Exit status: 0 success, 1 the API or the network refused or failed, 2 a usage mistake.",
  ].join("\n");
}

/** `session create|list|revoke`: delegated sessions on a GPU node the wallet rents. */
function sessionCommands(): Command[] {
  const node = (context: CommandContext) => context.flags.node as string;
  return [
    {
      words: ["session", "create"],
      args: [],
      flags: ["node", "ttl-s", "label"],
      required: ["node"],
      summary: "a session that operates your instances on a GPU node without the wallet; " +
        "prints its id once (give it as DBC_SESSION)",
      wallet: "required",
      async run(context) {
        const made = await context.client.createSession(node(context), {
          ttl_s: context.flags["ttl-s"] as number | undefined,
          label: context.flags.label as string | undefined,
        });
        context.print(made, keyValues);
      },
    },
    {
      words: ["session", "list"],
      args: [],
      flags: ["node"],
      required: ["node"],
      summary: "your sessions on a GPU node, named by the start of their id",
      wallet: "required",
      async run(context) {
        const answer = await context.client.sessions(node(context));
        context.print(
          answer,
          (data) =>
            data.sessions.map((session) =>
              `${session.prefix}  ${session.revoked_at ? "revoked" : "until"} ${
                new Date(session.revoked_at ?? session.expires_at).toISOString()
              }  ${session.label}`
            ).join("\n") || "no sessions",
        );
      },
    },
    {
      words: ["session", "revoke"],
      args: ["prefix"],
      flags: ["node"],
      required: ["node"],
      summary: "revoke a session: its holder is refused from now on",
      wallet: "required",
      async run(context) {
        const answer = await context.client.revokeSession(node(context), context.args.prefix!);
        context.print(answer, keyValues);
      },
    },
  ];
}
