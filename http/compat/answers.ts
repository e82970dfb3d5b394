/**
 * The native records (mod/schemas/vm.ts) as the original node wrote them:
 * its field names, times as local-time strings, sizes as text with a unit
 * (`"32G"`, `"256M"`), ports as text, and its words for a task's status.
 * Pure functions: no I/O, tested on their own.
 */
import type { InstanceState, VmDetail, VmImage, VmSnapshot } from "../../mod/mod.ts";
import type { Vm } from "../../mod/mod.ts";

const KIB = 1024;

/** `YYYY-MM-DD HH:MM:SS` in the node's local time, as the original's `strftime`. */
export function localTime(ms: number): string {
  const at = new Date(ms);
  const two = (value: number) => String(value).padStart(2, "0");
  return `${at.getFullYear()}-${two(at.getMonth() + 1)}-${two(at.getDate())} ` +
    `${two(at.getHours())}:${two(at.getMinutes())}:${two(at.getSeconds())}`;
}

/**
 * A size as the original's `scale_size` prints it: the largest unit up to `largest` (K, M, G,
 * T, P) that leaves a quotient under 1024, whole or with at most two decimals.
 */
export function scaleSize(bytes: number, largest: "G" | "P" = "P"): string {
  const units = largest === "G" ? ["K", "M", "G"] : ["K", "M", "G", "T", "P"];
  let text = "0K";
  for (const [index, unit] of units.entries()) {
    const size = bytes / KIB ** (index + 1);
    text = Number.isInteger(size) ? `${size}${unit}` : `${Number(size.toFixed(2))}${unit}`;
    if (size < 1024) break;
  }
  return text;
}

/** A size in GiB at most (the original's `size2GB`). */
export const sizeInGib = (bytes: number) => scaleSize(bytes, "G");

/** The original's word for a task's status (its `task_status_string`). */
export function taskStatus(state: InstanceState): string {
  switch (state) {
    case "creating":
      return "creating";
    case "running":
      return "running";
    case "stopped":
    case "expired":
      return "closed";
    case "failed":
      return "create error";
    case "deleted":
      return "none";
  }
}

/** One entry of the task list. */
export function taskListItem(vm: Vm) {
  return {
    task_id: vm.id,
    create_time: localTime(vm.created_at),
    desc: vm.desc ?? "",
    status: taskStatus(vm.state),
  };
}

/** A task's detail, as the owner sees it: login, resources, VNC. */
export function taskDetail(vm: VmDetail) {
  const windows = vm.os === "windows";
  const port = vm.login ? String(vm.login.port) : "";
  const vncPort = vm.hypervisor.state === "present" ? vm.hypervisor.vnc_port : vm.vnc.port;
  return {
    task_id: vm.id,
    os: vm.os,
    ssh_ip: vm.login?.host ?? "",
    ...(windows ? { rdp_port: port } : { ssh_port: port }),
    user_name: vm.credentials?.user ?? "",
    login_password: vm.credentials?.password ?? "",
    cpu_cores: vm.cpu_cores,
    gpu_count: vm.gpu_devices.length,
    mem_size: sizeInGib(vm.memory_mib * KIB * KIB),
    disk_system: vm.disk_gib === null ? "" : `${vm.disk_gib}G`,
    vnc_port: vncPort === null ? "" : String(vncPort),
    vnc_password: vm.vnc.password,
    // The renter's private network (/lan) the VM is on, only when it is on one, as the original.
    ...(vm.lan ? { network_name: vm.lan.network_name } : {}),
    create_time: localTime(vm.created_at),
    desc: vm.desc ?? "",
    status: taskStatus(vm.state),
    // The original listed libvirt's interfaces with their MAC addresses; this node does not.
    interface: [],
  };
}

/** One snapshot (the original also named the file it uploaded; here it stays in the VM's disk). */
export function snapshotItem(snapshot: VmSnapshot) {
  return {
    snapshot_name: snapshot.name,
    description: snapshot.description,
    snapshot_file: `${snapshot.vm_id}/${snapshot.name}`,
    create_time: localTime(snapshot.created_at),
  };
}

/**
 * One image of the image list. The original's key is `"image_name:"` (with the colon, sic); both
 * spellings are given so a client written for either finds it.
 */
export function imageItem(image: VmImage) {
  const size = scaleSize(image.size_bytes ?? 0);
  return { "image_name:": image.name, image_name: image.name, image_size: size };
}
