/**
 * `/api/v1/tasks...`: the renter's VMs in the original dialect, answered by
 * the GPU node with the same typed calls as the native routes
 * (http/routes/instances.ts, vm_ops.ts): `vm.create`, `vm.list`, `vm.get`,
 * `vm.start`, `vm.stop` (poweroff; shutdown with `acpi_only`), `vm.restart`,
 * `vm.reset` (restart with `force_reboot`), `vm.delete`, `vm.logs`,
 * `vm.modify`, `vm.passwd`. The signer sees and touches only its own VMs
 * ("task not exist" otherwise); only the machine's renter creates. Actions
 * answer `"ok"`.
 *
 * What the original has and this node does not (PXE boot, a public IP,
 * multicast, network filters, data files, and at modify a
 * new GPU count or public IP) is refused with the original's errcode 1
 * and a message that says so, before anything is made.
 */
import {
  InstanceIdSchema,
  LanNameSchema,
  VM_OPS_LIMITS,
  type VmCreateParams,
  VmDescSchema,
  VmImageNameSchema,
  VmPasswordSchema,
  type VmPortForward,
  VmUserNameSchema,
} from "../../mod/mod.ts";
import { ownVm, requireRenting, TASK_NOT_EXIST } from "./access.ts";
import { localTime, taskDetail, taskListItem } from "./answers.ts";
import { additionalText } from "./body.ts";
import { denied, invalidParams, invalidRequest, refused } from "./envelope.ts";
import { bodyOf, type Endpoint, type Group, renter } from "./endpoint.ts";

/** Creating a VM takes a while (an image copy, a first boot); the renter does not wait for it. */
const CREATE_TIMEOUT_MS = 15 * 60_000;
/**
 * How long the answer to a create waits for a quick refusal (no such image, no free GPU, a port
 * taken: the node checks those before it writes anything), so the renter gets it at once, as the
 * original's task manager answered its parameter checks.
 */
export const CREATE_REFUSAL_GRACE_MS = 2_000;
const ACTION_TIMEOUT_MS = 5 * 60_000;
const MAX_LOG_LINES = 100;
const MAX_GPUS = 16;
const GIB_MIB = 1024;

/**
 * What a VM action is in the native calls. `stop` is the original's power-off; `shutdown` only
 * asks the guest (ACPI) and never forces it.
 */
const ACTIONS = {
  start: { name: "start task", call: "vm.start" },
  shutdown: { name: "shutdown task", call: "vm.stop", force: false },
  poweroff: { name: "poweroff task", call: "vm.stop", force: true },
  stop: { name: "stop task", call: "vm.stop", force: true },
  restart: { name: "restart task", call: "vm.restart" },
  reset: { name: "reset task", call: "vm.reset" },
  delete: { name: "delete task", call: "vm.delete" },
} as const;
type Action = keyof typeof ACTIONS;
const PATH_WORDS = [...Object.keys(ACTIONS), "logs", "modify", "passwd"];

/** Fields of `additional` this node cannot honour yet, with what it lacks. */
const UNSUPPORTED_CREATE_FIELDS: Record<string, string> = {
  public_ip: "a public IP per VM",
  multicast: "multicast",
  network_filters: "network filters",
  data_file_name: "data files",
};

const list: Endpoint = {
  name: "list task",
  at: "node",
  signed: true,
  async run(input) {
    const who = await renter(input);
    const { vms } = await input.deps.call("vm.list", {});
    return vms.filter((vm) => vm.owner === who.account).map(taskListItem);
  },
};

const detail: Endpoint = {
  name: "list task",
  at: "node",
  signed: true,
  async run(input) {
    const who = await renter(input);
    try {
      return taskDetail(await ownVm(input, input.args[0]!, who.account));
    } catch (error) {
      // The detail's own words for an unknown task (E_DEFAULT), unlike the actions'.
      if (error instanceof Error && error.message === TASK_NOT_EXIST) {
        throw denied("task_id not exist");
      }
      throw error;
    }
  },
};

/** An integer from `text` as the original's `atoi` reads it (leading digits; 0 when none). */
function atoi(text: string): number {
  const match = /^\s*([+-]?\d+)/.exec(text);
  return match ? Number(match[1]) : 0;
}

function port(text: string, name: string, min = 1): number | undefined {
  if (text === "") return undefined;
  if (!/^\d+$/.test(text)) throw refused(`${name} is not digit`);
  const value = Number(text);
  if (value < min || value > 65_535) throw refused(`${name} is invalid (usage: [${min}, 65535])`);
  return value;
}

/** The create's `additional` (strings) as the native `vm.create` parameters. */
export function createParams(
  additional: Record<string, unknown>,
  who: { account: string; actor: string },
  newId: () => string,
): { params: VmCreateParams; desc: string } {
  const text = (key: string) => additionalText(additional, key);
  const os = text("operation_system").toLowerCase();
  // Older nodes also took `ubuntu`, `win10`, ... as the original's TaskManager does.
  const windows = os.startsWith("win");
  if (os !== "" && !windows && !/^(linux|ubuntu|debian|centos)/.test(os)) {
    throw refused(`unsupported operation system: ${os} (usage: 'linux' 'windows')`);
  }
  const bios = text("bios_mode");
  if (bios === "pxe") {
    throw refused(
      "bios_mode pxe is not supported by this node (no network boot); use legacy or uefi",
    );
  }
  if (bios !== "" && bios !== "legacy" && bios !== "uefi") {
    throw refused(`unsupported bios mode: ${bios} (usage: 'legacy(default)'、'uefi'、'pxe')`);
  }
  for (const [key, what] of Object.entries(UNSUPPORTED_CREATE_FIELDS)) {
    const value = additional[key];
    const given = typeof value === "string"
      ? value !== ""
      : Array.isArray(value) && value.length > 0;
    if (given) throw refused(`${key}: ${what} are not supported by this node yet`);
  }
  const model = text("interface_model_type");
  if (model !== "" && model !== "virtio") {
    throw refused(`interface_model_type ${model} is not supported by this node (virtio only)`);
  }

  const image = text("image_name");
  if (image === "") throw refused("image_name is empty");
  if (!VmImageNameSchema.safeParse(image).success) throw refused("'image_name' is invalid");
  const taskId = text("task_id");
  if (taskId !== "" && !InstanceIdSchema.safeParse(taskId).success) {
    throw refused("task_id: expected 3-63 lower-case letters, digits or dashes on this node");
  }
  const gpuCount = text("gpu_count") === "" ? 0 : atoi(text("gpu_count"));
  if (gpuCount < 0 || gpuCount > MAX_GPUS) throw refused("gpu_count is invalid");
  const cpuCores = atoi(text("cpu_cores"));
  if (cpuCores <= 0) throw refused("cpu_cores is invalid");
  // GiB; the native API also takes fractions, which an original client never sends.
  const memGib = Number.parseFloat(text("mem_size"));
  if (!(memGib > 0)) throw refused("mem_size is invalid");
  const diskGib = atoi(text("disk_size"));
  if (diskGib <= 0) throw refused("disk_size is invalid (usage: disk_size > 0)");
  // The renter's private network (/lan), made beforehand on this machine.
  const networkName = text("network_name");
  if (networkName !== "" && !LanNameSchema.safeParse(networkName).success) {
    throw refused("network name requires a combination of 6 to 10 letters or numbers");
  }
  const desc = text("desc");
  if (!VmDescSchema.safeParse(desc).success) {
    throw refused("desc is invalid: one line of at most 256 characters");
  }
  return {
    params: {
      actor: who.actor,
      owner: who.account,
      id: taskId === "" ? newId() : taskId,
      os: windows ? "windows" : "linux",
      image,
      cpu_cores: cpuCores,
      memory_mib: Math.round(memGib * GIB_MIB),
      disk_gib: diskGib,
      gpus: { count: gpuCount },
      // The login forward: SSH for Linux, RDP for Windows, as the original read them.
      login_port: windows ? port(text("rdp_port"), "rdp_port") : port(text("ssh_port"), "ssh_port"),
      vnc_port: port(text("vnc_port"), "vnc_port", 5900),
      firmware: bios === "uefi" ? "uefi" : "bios",
      desc,
      custom_ports: customPorts(additional.custom_port),
      ...(networkName === "" ? {} : { network_name: networkName }),
    },
    desc,
  };
}

/** One `custom_port` entry: `tcp,123`, `udp,111:222`, `tcp,1000-1010`, `tcp,1000-1010:2000-2010`. */
const CUSTOM_PORT =
  /^\s*(tcp|udp)\s*,\s*(\d{1,5})(?:\s*-\s*(\d{1,5}))?(?:\s*:\s*(\d{1,5})(?:\s*-\s*(\d{1,5}))?)?\s*$/i;
const CUSTOM_PORT_USAGE = '"tcp,123" "udp,111:222" "tcp,1000-1010" "tcp,1000-1010:2000-2010"';

/**
 * `custom_port` as the original's TaskManager reads it (it then wrote one iptables DNAT rule per
 * entry): host port to the same guest port, `host:guest`, a range to the same range, or a range to
 * a range of the same length; here each port of a range is a forward of its own. What the
 * original skipped in silence (another protocol, a malformed entry) is refused, saying which.
 */
export function customPorts(value: unknown): VmPortForward[] {
  if (value === undefined || value === "") return [];
  if (!Array.isArray(value)) throw refused("custom_port is invalid: expected a list of strings");
  const forwards = value.flatMap((item): VmPortForward[] => {
    const match = typeof item === "string" ? CUSTOM_PORT.exec(item) : null;
    const shown = JSON.stringify(item);
    if (!match) throw refused(`custom_port ${shown} is invalid (usage: ${CUSTOM_PORT_USAGE})`);
    const [, protocol, hostFirst, hostLast, guestFirst, guestLast] = match;
    const host = [Number(hostFirst), Number(hostLast ?? hostFirst)];
    const guest = guestFirst === undefined
      ? host
      : [Number(guestFirst), Number(guestLast ?? guestFirst)];
    if ([...host, ...guest].some((port) => port < 1 || port > 65_535)) {
      throw refused(`custom_port ${shown} is invalid: ports are 1-65535`);
    }
    const count = host[1]! - host[0]! + 1;
    if (count < 1 || guest[1]! - guest[0]! + 1 !== count) {
      throw refused(`custom_port ${shown} is invalid: a range maps to a range of the same length`);
    }
    if (count > VM_OPS_LIMITS.maxCustomPorts) {
      throw refused(
        `custom_port ${shown} is invalid: at most ${VM_OPS_LIMITS.maxCustomPorts} ports`,
      );
    }
    return Array.from({ length: count }, (_, index) => ({
      protocol: protocol!.toLowerCase() as "tcp" | "udp",
      host_port: host[0]! + index,
      guest_port: guest[0]! + index,
    }));
  });
  if (forwards.length > VM_OPS_LIMITS.maxCustomPorts) {
    throw refused(`custom_port is invalid: at most ${VM_OPS_LIMITS.maxCustomPorts} ports in all`);
  }
  return forwards;
}

const newVmId = () => `vm-${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;

const create: Endpoint = {
  name: "create task",
  at: "node",
  signed: true,
  async run(input) {
    const who = await renter(input);
    await requireRenting(input, who.account);
    const { params, desc } = createParams(bodyOf(input).additional, who, newVmId);
    const createdAt = input.deps.now();
    const creating = input.deps.call("vm.create", params, { timeoutMs: CREATE_TIMEOUT_MS });
    // A refusal within the grace is the renter's answer; anything later shows in the task's status.
    let grace: ReturnType<typeof setTimeout> | undefined;
    const early = await Promise.race([
      creating.then(() => undefined, (error: Error) => error),
      new Promise<undefined>((resolve) => {
        grace = setTimeout(() => resolve(undefined), CREATE_REFUSAL_GRACE_MS);
      }),
    ]);
    clearTimeout(grace);
    if (early) throw early;
    creating.catch((error: Error) =>
      input.deps.log.warn("VM create failed after it was accepted", {
        id: params.id,
        error: error.message,
      })
    );
    return { task_id: params.id, create_time: localTime(createdAt), desc, status: "creating" };
  },
};

function action(word: Action): Endpoint {
  const spec = ACTIONS[word];
  return {
    name: spec.name,
    at: "node",
    signed: true,
    check: word === "restart" ? (input) => void forceReboot(input.query) : undefined,
    async run(input) {
      const who = await renter(input);
      const id = (await ownVm(input, input.args[0]!, who.account)).id;
      const target = { actor: who.actor, id };
      const options = { timeoutMs: ACTION_TIMEOUT_MS };
      if (spec.call === "vm.stop") {
        await input.deps.call(
          "vm.stop",
          { ...target, force: spec.force, acpi_only: !spec.force },
          options,
        );
      } else if (word === "restart" && forceReboot(input.query)) {
        await input.deps.call("vm.reset", target, options);
      } else {
        await input.deps.call(spec.call, target, options);
      }
      return "ok";
    },
  };
}

/** `?force_reboot=true` or a non-zero number: a hard reset instead of a guest reboot. */
function forceReboot(query: URLSearchParams): boolean {
  const value = query.get("force_reboot") ?? "";
  return value === "true" || (value !== "" && atoi(value) !== 0);
}

/** `?flag=head|tail&line_num=N` as the original's client-end reads it; 400 (-25) otherwise. */
export function logRange(query: URLSearchParams): { from: "head" | "tail"; lines: number } {
  const flag = query.get("flag") ?? "";
  if (flag === "") return { from: "tail", lines: MAX_LOG_LINES };
  if (flag !== "head" && flag !== "tail") throw invalidParams('head_or_tail is invalid"');
  const text = query.get("line_num") ?? "";
  const lines = text === "" ? MAX_LOG_LINES : atoi(text);
  if (lines <= 0) throw invalidParams("invalid line num");
  return { from: flag, lines: Math.min(lines, MAX_LOG_LINES) };
}

const logs: Endpoint = {
  name: "task logs",
  at: "node",
  signed: true,
  check: (input) => void logRange(input.query),
  async run(input) {
    const who = await renter(input);
    const id = (await ownVm(input, input.args[0]!, who.account)).id;
    const range = logRange(input.query);
    const { lines } = await input.deps.call("vm.logs", { id, ...range });
    return { task_id: id, log_content: lines };
  },
};

/** The modify fields this node cannot change. */
const UNSUPPORTED_MODIFY_FIELDS = [
  "new_gpu_count",
  "new_public_ip",
  "new_network_filters",
];

const modify: Endpoint = {
  name: "modify task",
  at: "node",
  signed: true,
  async run(input) {
    const who = await renter(input);
    const additional = bodyOf(input).additional;
    for (const key of UNSUPPORTED_MODIFY_FIELDS) {
      const value = additional[key];
      if ((typeof value === "string" && value !== "") || (Array.isArray(value) && value.length)) {
        throw refused(`${key} cannot be changed on this node yet`);
      }
    }
    const text = (key: string) => additionalText(additional, key);
    const cpuCores = text("new_cpu_cores") === "" ? undefined : atoi(text("new_cpu_cores"));
    if (cpuCores !== undefined && cpuCores <= 0) throw refused("new_cpu_cores is invalid");
    const memGib = text("new_mem_size") === ""
      ? undefined
      : Number.parseFloat(text("new_mem_size"));
    if (memGib !== undefined && !(memGib > 0)) throw refused("new_mem_size is invalid");
    const sshPort = port(text("new_ssh_port"), "new_ssh_port");
    const rdpPort = port(text("new_rdp_port"), "new_rdp_port");
    const vncPort = port(text("new_vnc_port"), "new_vnc_port", 5900);
    // An empty list is what a client sends for "no change", as for the other fields.
    const asked = additional.new_custom_port;
    const forwards =
      asked === undefined || asked === "" || (Array.isArray(asked) && asked.length === 0)
        ? undefined
        : customPorts(asked);
    if (
      [cpuCores, memGib, sshPort, rdpPort, vncPort, forwards].every((value) => value === undefined)
    ) {
      throw refused(
        "nothing to modify: new_cpu_cores, new_mem_size, new_ssh_port, new_rdp_port, " +
          "new_vnc_port or new_custom_port",
      );
    }
    const vm = await ownVm(input, input.args[0]!, who.account);
    // The login forward is SSH's on Linux and RDP's on Windows, as at create.
    const [loginPort, otherName, otherPort] = vm.os === "windows"
      ? [rdpPort, "new_ssh_port", sshPort]
      : [sshPort, "new_rdp_port", rdpPort];
    if (otherPort !== undefined) throw refused(`${otherName} is not for a ${vm.os} VM`);
    await input.deps.call("vm.modify", {
      actor: who.actor,
      id: vm.id,
      cpu_cores: cpuCores,
      memory_mib: memGib === undefined ? undefined : Math.round(memGib * GIB_MIB),
      login_port: loginPort,
      vnc_port: vncPort,
      custom_ports: forwards,
    }, { timeoutMs: ACTION_TIMEOUT_MS });
    return "ok";
  },
};

/** `additional.username` (the node's login user when empty) and `password`; the VM running. */
const passwd: Endpoint = {
  name: "passwd task",
  at: "node",
  signed: true,
  async run(input) {
    const who = await renter(input);
    const additional = bodyOf(input).additional;
    const user = additionalText(additional, "username");
    const password = additionalText(additional, "password");
    if (user !== "" && !VmUserNameSchema.safeParse(user).success) {
      throw refused("username is invalid");
    }
    if (!VmPasswordSchema.safeParse(password).success) {
      throw refused("password is invalid: 8 to 128 printable ASCII characters");
    }
    const id = (await ownVm(input, input.args[0]!, who.account)).id;
    await input.deps.call("vm.passwd", {
      actor: who.actor,
      id,
      user: user === "" ? undefined : user,
      password,
    }, { timeoutMs: ACTION_TIMEOUT_MS });
    return "ok";
  },
};

/** `/api/v1/tasks[/...]`: the original's routing, action first, id last. */
export const taskRoutes: Group = (segments) => {
  const [first, second, ...rest] = segments;
  if (first === undefined) return { endpoint: list, args: [] };
  if (second === undefined) {
    if (first === "start") return { endpoint: create, args: [] };
    if (PATH_WORDS.includes(first)) {
      throw invalidParams(`invalid uri, please use /tasks/${first}/{task_id}`);
    }
    return { endpoint: detail, args: [first] };
  }
  if (rest.length === 0) {
    if (first in ACTIONS) return { endpoint: action(first as Action), args: [second] };
    if (first === "logs") return { endpoint: logs, args: [second] };
    if (first === "modify") return { endpoint: modify, args: [second] };
    if (first === "passwd") return { endpoint: passwd, args: [second] };
  }
  throw invalidRequest("invalid requests uri");
};
