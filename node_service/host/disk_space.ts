/**
 * Keeps a reserve of free space on the volumes VM disks and images live on.
 * VM disks are thin (qcow2 overlays that grow as guests write), so a full
 * volume does not refuse a write cleanly: QEMU pauses every guest on it. The
 * node therefore refuses the operations that add to the volume (a new VM, a
 * bigger disk, a snapshot, an image download) once free space would fall
 * below the reserve, with a clear error, before anything is written.
 */
import { statfs } from "node:fs/promises";
import { RpcError } from "../../mod/mod.ts";

const GIB = 2 ** 30;

/** Bytes free to this (unprivileged) process on the volume of `path`. */
export type FreeSpace = (path: string) => Promise<number>;

export const statfsFreeSpace: FreeSpace = async (path) => {
  const stats = await statfs(path);
  return Number(stats.bavail) * Number(stats.bsize);
};

/** Why `neededBytes` more on a volume with `freeBytes` free would break the reserve; or nothing. */
export function roomRefusal(
  freeBytes: number,
  neededBytes: number,
  reserveBytes: number,
): string | undefined {
  if (freeBytes - neededBytes >= reserveBytes) return undefined;
  const gib = (bytes: number) => `${(bytes / GIB).toFixed(1)} GiB`;
  return `${gib(freeBytes)} free${neededBytes > 0 ? `, ${gib(neededBytes)} needed` : ""}, and ${
    gib(reserveBytes)
  } is kept free so running guests never find the volume full`;
}

export class DiskGuard {
  constructor(
    private readonly reserveBytes: number,
    private readonly freeSpace: FreeSpace = statfsFreeSpace,
  ) {}

  /** Throws `conflict` when `what` (needing `neededBytes` more at `path`) would break the reserve. */
  async require(path: string, neededBytes: number, what: string): Promise<void> {
    let free: number;
    try {
      free = await this.freeSpace(path);
    } catch (error) {
      // An unreadable volume is not a reason to refuse: the write itself will say what is wrong.
      if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotCapable) return;
      throw error;
    }
    const refusal = roomRefusal(free, neededBytes, this.reserveBytes);
    if (refusal) throw new RpcError("conflict", `not enough disk space for ${what}: ${refusal}`);
  }
}
