/**
 * A VM's own disk, a qcow2 overlay on its (never written) image, through
 * qemu-img: create it, read its header, grow it, and take, apply or delete
 * internal snapshots in it.
 *
 * Everything but {@link diskInfo} writes the file and is for a VM that is not
 * running: QEMU holds a write lock on an open disk, so qemu-img refuses a
 * running VM's (a `conflict`) instead of corrupting it; the VM service checks
 * the state first and says so more plainly.
 */
import { RpcError, type RpcErrorCode } from "../../mod/mod.ts";
import type { ReadyImage } from "./images/mod.ts";
import { runTool } from "../tools.ts";
import { QEMU_IMG_SNAPSHOT_TIMEOUT_MS, QEMU_IMG_TIMEOUT_MS } from "./constants.ts";

export type DiskInfo = { virtualSizeBytes: number; snapshots: string[] };

/** The error code for what qemu-img printed when it failed. */
export function qemuImgErrorCode(stderr: string): RpcErrorCode {
  if (/Failed to get "?\w+"? lock|Is another process using the image/i.test(stderr)) {
    return "conflict";
  }
  if (
    /snapshot not found|Failed to load snapshot: No such file|Can't find the snapshot/i.test(stderr)
  ) {
    return "not_found";
  }
  return "internal";
}

async function qemuImg(what: string, args: string[], timeoutMs: number): Promise<string> {
  const result = await runTool("qemu-img", args, timeoutMs);
  switch (result.kind) {
    case "not_found":
      throw new RpcError("internal", `cannot ${what}: qemu-img is not installed (qemu-utils)`);
    case "timed_out":
      throw new RpcError("timeout", `cannot ${what}: qemu-img gave no answer in ${timeoutMs} ms`);
    case "exited":
      if (result.code !== 0) {
        const stderr = result.stderr.trim().replace(/^qemu-img:\s*/, "");
        const code = qemuImgErrorCode(stderr);
        const hint = code === "conflict" ? " (the disk is in use: is the VM running?)" : "";
        throw new RpcError(code, `cannot ${what}: ${stderr}${hint}`);
      }
      return result.stdout;
  }
}

/** Makes the VM's disk: a qcow2 overlay whose backing file is the image. */
export async function createOverlay(
  base: ReadyImage,
  path: string,
  sizeBytes: number | undefined,
): Promise<void> {
  const args = ["create", "-q", "-f", "qcow2", "-F", base.format, "-b", base.path, path];
  if (sizeBytes !== undefined) args.push(String(sizeBytes));
  await qemuImg("create the VM's disk", args, QEMU_IMG_TIMEOUT_MS);
}

/** The disk's size and the names of its internal snapshots; safe on a running VM's disk. */
export async function diskInfo(path: string): Promise<DiskInfo> {
  // -U: read the header without the lock a running QEMU holds; nothing is written.
  const text = await qemuImg(
    "read the VM's disk",
    ["info", "-U", "--output=json", path],
    QEMU_IMG_TIMEOUT_MS,
  );
  const info = JSON.parse(text) as {
    "virtual-size"?: number;
    snapshots?: { name?: string }[];
  };
  return {
    virtualSizeBytes: info["virtual-size"] ?? 0,
    snapshots: (info.snapshots ?? []).map((snapshot) => snapshot.name ?? ""),
  };
}

/** Grows the disk to `bytes`; qemu-img itself refuses to shrink without `--shrink`. */
export async function growDisk(path: string, bytes: number): Promise<void> {
  await qemuImg(
    "grow the VM's disk",
    ["resize", "-q", "-f", "qcow2", path, String(bytes)],
    QEMU_IMG_SNAPSHOT_TIMEOUT_MS,
  );
}

export async function createDiskSnapshot(path: string, name: string): Promise<void> {
  await qemuImg(
    `take snapshot ${name}`,
    ["snapshot", "-q", "-c", name, path],
    QEMU_IMG_SNAPSHOT_TIMEOUT_MS,
  );
}

/** Puts the disk back as the snapshot saw it, its size included. */
export async function applyDiskSnapshot(path: string, name: string): Promise<void> {
  await qemuImg(
    `restore snapshot ${name}`,
    ["snapshot", "-q", "-a", name, path],
    QEMU_IMG_SNAPSHOT_TIMEOUT_MS,
  );
}

export async function deleteDiskSnapshot(path: string, name: string): Promise<void> {
  await qemuImg(
    `delete snapshot ${name}`,
    ["snapshot", "-q", "-d", name, path],
    QEMU_IMG_SNAPSHOT_TIMEOUT_MS,
  );
}

/** Makes an empty qcow2 disk of `bytes` (a data disk: no backing file). */
export async function createBlankDisk(path: string, bytes: number): Promise<void> {
  await qemuImg(
    "create the data disk",
    ["create", "-q", "-f", "qcow2", path, String(bytes)],
    QEMU_IMG_TIMEOUT_MS,
  );
}
