/**
 * `/api/v1/disk/list|resize|add|delete/{task_id}`: a VM's data disks in the
 * original dialect, on the native calls `vm.disk_list`, `vm.disk_resize`,
 * `vm.disk_add`, `vm.disk_delete`. The list names each disk by the guest's
 * device (`vda` the system disk, `vdc`.. the data disks); `size` is whole
 * GiB (a JSON integer in the original, a digit string taken too). A disk
 * only grows; adding, growing or deleting one works on a stopped VM and, as
 * in the original, on a running Linux one (a running Windows guest is
 * errcode 1: its SATA disks are not hot-plugged). The original's `mount_dir` (formatting and
 * mounting the disk inside the guest) is not done: the guest sees a blank
 * disk.
 */
import { type VmDisk, VmDiskNameSchema } from "../../mod/mod.ts";
import { ownVm } from "./access.ts";
import { sizeInGib } from "./answers.ts";
import { additionalText } from "./body.ts";
import { invalidParams, invalidRequest, refused } from "./envelope.ts";
import { bodyOf, type Endpoint, type EndpointInput, type Group, renter } from "./endpoint.ts";

/** qemu-img on a large disk takes a while. */
const DISK_OPERATION_TIMEOUT_MS = 5 * 60_000;
const GIB = 2 ** 30;
const MAX_SIZE_GIB = 64 * 1024;

/** One disk as the original listed it. */
export function diskItem(disk: VmDisk) {
  const bytes = disk.size_bytes ?? (disk.size_gib === null ? 0 : disk.size_gib * GIB);
  return { name: disk.name, file: disk.file, size: sizeInGib(bytes) };
}

/** `additional.size`: whole GiB, as a JSON integer or digits. */
function sizeGib(additional: Record<string, unknown>): number {
  const value = additional.size;
  const size = typeof value === "number"
    ? value
    : typeof value === "string" && /^\d+$/.test(value)
    ? Number(value)
    : NaN;
  if (!Number.isInteger(size) || size < 1 || size > MAX_SIZE_GIB) {
    throw refused(`size is invalid: whole GiB from 1 to ${MAX_SIZE_GIB}`);
  }
  return size;
}

function diskName(additional: Record<string, unknown>): string {
  const name = additionalText(additional, "disk");
  if (name === "") throw refused("disk is empty");
  if (!VmDiskNameSchema.safeParse(name).success) throw refused(`disk ${name} not exist`);
  return name;
}

async function ownVmId(input: EndpointInput, account: string): Promise<string> {
  return (await ownVm(input, input.args[0]!, account)).id;
}

const list: Endpoint = {
  name: "list disk",
  at: "node",
  signed: true,
  async run(input) {
    const who = await renter(input);
    const id = await ownVmId(input, who.account);
    const { disks } = await input.deps.call("vm.disk_list", { id });
    return disks.map(diskItem);
  },
};

const add: Endpoint = {
  name: "add disk",
  at: "node",
  signed: true,
  async run(input) {
    const who = await renter(input);
    const size = sizeGib(bodyOf(input).additional);
    const id = await ownVmId(input, who.account);
    await input.deps.call("vm.disk_add", { actor: who.actor, id, size_gib: size }, {
      timeoutMs: DISK_OPERATION_TIMEOUT_MS,
    });
    return "ok";
  },
};

const resize: Endpoint = {
  name: "resize disk",
  at: "node",
  signed: true,
  async run(input) {
    const who = await renter(input);
    const additional = bodyOf(input).additional;
    const disk = diskName(additional);
    const size = sizeGib(additional);
    const id = await ownVmId(input, who.account);
    await input.deps.call("vm.disk_resize", { actor: who.actor, id, disk, size_gib: size }, {
      timeoutMs: DISK_OPERATION_TIMEOUT_MS,
    });
    return "ok";
  },
};

const remove: Endpoint = {
  name: "delete disk",
  at: "node",
  signed: true,
  async run(input) {
    const who = await renter(input);
    const disk = diskName(bodyOf(input).additional);
    const id = await ownVmId(input, who.account);
    await input.deps.call("vm.disk_delete", { actor: who.actor, id, disk }, {
      timeoutMs: DISK_OPERATION_TIMEOUT_MS,
    });
    return "ok";
  },
};

const ENDPOINTS: Record<string, Endpoint> = { list, add, resize, delete: remove };

/** `/api/v1/disk/{list|add|resize|delete}/{task_id}`. */
export const diskRoutes: Group = (segments) => {
  const [word, taskId, ...rest] = segments;
  const endpoint = word !== undefined && Object.hasOwn(ENDPOINTS, word)
    ? ENDPOINTS[word]
    : undefined;
  if (!endpoint) throw invalidRequest("invalid requests uri");
  if (taskId === undefined || rest.length > 0) {
    throw invalidParams(`invalid uri, please use /disk/${word}/{task_id}`);
  }
  return { endpoint, args: [taskId] };
};
