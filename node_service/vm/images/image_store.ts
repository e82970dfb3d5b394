/**
 * VM images: files in the image directory, recorded in SQLite (`vm_images`)
 * with their format, sizes and SHA-256. Adding one (from a local file or a
 * URL) runs in the background and reports progress; the file appears under
 * its name only once it is complete and checked. An image some VM uses
 * cannot be deleted.
 *
 * Operator images are shared by every renter. A renter's image belongs to the
 * renter who added it: only it lists, boots and deletes it, under the name it
 * gave (`label`), stored under a key of its own (`r-<owner hash>-<name>`), so
 * names are per owner and nobody takes an operator's name or another's. The
 * per-renter cap is checked in the insert's own transaction.
 *
 * Images are checked with `qemu-img info`: one that names a backing file or
 * an external data file is refused, since QEMU would open that host file
 * for the guest.
 */
import { createHash } from "node:crypto";
import { type DatabaseSync, resolvePath, transaction, type VmImage } from "../../../mod/mod.ts";
import type { DiskGuard } from "../../host/mod.ts";
import { runTool } from "../../tools.ts";
import {
  failureReason,
  NO_OUTBOUND,
  outboundFlags,
  type OutboundPolicy,
  spawnOutbound,
  stderrLines,
} from "../../host/mod.ts";
import {
  chmodIfOwned,
  IMAGE_DIR_MODE,
  IMAGE_DOWNLOAD_IDLE_TIMEOUT_MS,
  IMAGE_PROGRESS_INTERVAL_MS,
  QEMU_IMG_TIMEOUT_MS,
} from "../constants.ts";

export type ImageErrorKind = "not_found" | "conflict" | "invalid" | "failed";

export class ImageError extends Error {
  constructor(readonly kind: ImageErrorKind, message: string) {
    super(message);
    this.name = "ImageError";
  }
}

export type ImageSource = { kind: "path"; path: string } | { kind: "url"; url: string };

/** A ready image, as the VM service needs it to build a disk. */
export type ReadyImage = { name: string; path: string; format: string; virtualSizeBytes: number };

export type ImageStoreOptions = {
  db: DatabaseSync;
  imageDir: string;
  now: () => number;
  /** The VMs using an image (its disk, kernel or initrd); deletion is refused while any does. */
  usersOf: (name: string) => string[];
  /** Told when a background add ends, either way. */
  onAddDone?: (image: VmImage) => void;
  /** Refuses an add that would eat into the volume's reserve of free space. */
  diskGuard?: DiskGuard;
  /** Where URLs may be downloaded from (none without one). */
  downloads?: OutboundPolicy;
};

type ImageRow = {
  name: string;
  state: VmImage["state"];
  format: string | null;
  size_bytes: number | null;
  virtual_size_bytes: number | null;
  sha256: string | null;
  source: string;
  error: string | null;
  added_at: number;
  updated_at: number;
  added_by: string | null;
  label: string | null;
};

type Progress = { done_bytes: number; total_bytes: number | null };

/** A stored image's key: an operator's name, or a renter's name behind its owner's tag. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,159}$/;

/** The key a renter's image `name` is stored under. */
export function renterImageKey(owner: string, name: string): string {
  return `r-${createHash("sha256").update(owner).digest("hex").slice(0, 16)}-${name}`;
}

export class ImageStore {
  readonly imageDir: string;
  #db: DatabaseSync;
  #now: () => number;
  #usersOf: (name: string) => string[];
  #onAddDone: (image: VmImage) => void;
  #diskGuard: DiskGuard | undefined;
  #downloads: OutboundPolicy;
  #progress = new Map<string, Progress>();
  #jobs = new Set<Promise<unknown>>();
  /** Aborted by {@link ImageStore.close}: every copy and download under way stops. */
  #closing = new AbortController();

  constructor(options: ImageStoreOptions) {
    this.imageDir = options.imageDir.replace(/\/+$/, "");
    this.#db = options.db;
    this.#now = options.now;
    this.#usersOf = options.usersOf;
    this.#onAddDone = options.onAddDone ?? (() => {});
    this.#diskGuard = options.diskGuard;
    this.#downloads = options.downloads ?? NO_OUTBOUND;
    Deno.mkdirSync(this.imageDir, { recursive: true, mode: IMAGE_DIR_MODE });
    chmodIfOwned(this.imageDir, IMAGE_DIR_MODE);
  }

  /**
   * After a restart: an add that was under way cannot finish, so its record
   * becomes `failed` and its partial file goes. Returns the names affected.
   */
  recoverInterrupted(): string[] {
    const rows = this.#db.prepare("SELECT name FROM vm_images WHERE state = 'adding'").all() as {
      name: string;
    }[];
    for (const { name } of rows) {
      this.#fail(name, "interrupted by a node restart");
      removeQuietly(this.#partPath(name));
    }
    return rows.map((row) => row.name);
  }

  list(): VmImage[] {
    const rows = this.#db.prepare("SELECT * FROM vm_images ORDER BY name").all() as ImageRow[];
    return rows.map((row) => this.#view(row));
  }

  /** What `owner` may see and boot: the operator's images and its own, named as it named them. */
  listFor(owner: string): VmImage[] {
    const rows = this.#db.prepare(
      "SELECT * FROM vm_images WHERE added_by IS NULL OR added_by = ? ORDER BY coalesce(label, name)",
    ).all(owner) as ImageRow[];
    // Its own image of a name stands in for the operator's of that name (as when booting).
    const own = new Set(rows.filter((row) => row.added_by !== null).map((row) => row.label));
    return rows.filter((row) => row.added_by !== null || !own.has(row.name))
      .map((row) => ({ ...this.#view(row), name: row.label ?? row.name }));
  }

  /** Image `name` as `owner` sees it: its own of that name, else the operator's; or undefined. */
  getFor(owner: string, name: string): VmImage | undefined {
    const row = this.#rowFor(owner, name);
    return row ? { ...this.#view(row), name: row.label ?? row.name } : undefined;
  }

  /** The stored key of image `name` as `owner` may use it; `not_found` for anyone else's. */
  resolveFor(owner: string, name: string): string {
    const row = this.#rowFor(owner, name);
    if (!row) throw new ImageError("not_found", `no image ${name} on this node`);
    return row.name;
  }

  /** The image `owner` may boot under `name` (its own, else the operator's), ready for use. */
  readyImageFor(owner: string, name: string): ReadyImage {
    return this.ready(this.resolveFor(owner, name));
  }

  /** Deletes `owner`'s own image `name`; never the operator's nor another renter's. */
  deleteFor(owner: string, name: string): void {
    const row = this.#db.prepare("SELECT * FROM vm_images WHERE added_by = ? AND label = ?")
      .get(owner, name) as ImageRow | undefined;
    if (!row) throw new ImageError("not_found", `you have no image ${name} on this node`);
    this.delete(row.name);
  }

  get(name: string): VmImage | undefined {
    const row = this.#row(name);
    return row ? this.#view(row) : undefined;
  }

  /** The file path of image `name` (which must be a plain file name). */
  pathOf(name: string): string {
    if (!NAME.test(name) || name.includes("..")) {
      throw new ImageError("invalid", `not an image name: ${JSON.stringify(name)}`);
    }
    return `${this.imageDir}/${name}`;
  }

  /** The image if it is ready for use; a clear error when it is missing or not ready. */
  ready(name: string): ReadyImage {
    const row = this.#row(name);
    if (!row) throw new ImageError("not_found", `no image ${name} on this node`);
    if (row.state !== "ready") {
      throw new ImageError(
        "conflict",
        `image ${name} is ${row.state}${row.error ? `: ${row.error}` : ""}`,
      );
    }
    return {
      name,
      path: this.pathOf(name),
      format: row.format ?? "raw",
      virtualSizeBytes: row.virtual_size_bytes ?? 0,
    };
  }

  /**
   * Starts adding image `name` and returns its record (state `adding`) at
   * once; `done` settles with the final record (`ready` or `failed`).
   */
  add(
    name: string,
    source: ImageSource,
    expectedSha256?: string,
    addedBy?: string,
    maxPerOwner?: number,
  ): { image: VmImage; done: Promise<VmImage> } {
    const label = name;
    if (addedBy !== undefined) name = renterImageKey(addedBy, label);
    const path = this.pathOf(name);
    if (source.kind === "path") source = { kind: "path", path: resolvePath("/", source.path) };
    const sourceText = source.kind === "path" ? source.path : redactUrl(source.url);
    const at = this.#now();
    // One transaction: the name check, the cap and the insert (parallel adds cannot overrun it).
    transaction(this.#db, () => {
      const existing = this.#row(name);
      if (existing && existing.state !== "failed") {
        throw new ImageError("conflict", `image ${label} already exists (${existing.state})`);
      }
      if (existing) this.#db.prepare("DELETE FROM vm_images WHERE name = ?").run(name);
      if (addedBy !== undefined && maxPerOwner !== undefined) {
        const { held } = this.#db.prepare(
          "SELECT count(*) AS held FROM vm_images WHERE added_by = ?",
        ).get(addedBy) as { held: number };
        if (held >= maxPerOwner) {
          throw new ImageError(
            "conflict",
            `you already keep ${held} images on this node (at most ${maxPerOwner}); delete one first`,
          );
        }
      }
      this.#db.prepare(
        `INSERT INTO vm_images (name, state, source, added_at, updated_at, added_by, label)
         VALUES (?, 'adding', ?, ?, ?, ?, ?)`,
      ).run(name, sourceText, at, at, addedBy ?? null, addedBy === undefined ? null : label);
    });
    this.#progress.set(name, { done_bytes: 0, total_bytes: null });
    const done = this.#fill(name, path, source, expectedSha256, this.#closing.signal)
      .then(
        (info) => {
          const finished = this.#now();
          this.#db.prepare(
            `UPDATE vm_images SET state = 'ready', format = ?, size_bytes = ?, virtual_size_bytes = ?,
             sha256 = ?, error = NULL, updated_at = ? WHERE name = ?`,
          ).run(info.format, info.sizeBytes, info.virtualSizeBytes, info.sha256, finished, name);
        },
        (error) => this.#fail(name, (error as Error).message),
      )
      .then(() => {
        this.#progress.delete(name);
        const image = this.get(name)!;
        this.#onAddDone(image);
        return image;
      });
    this.#jobs.add(done);
    done.finally(() => this.#jobs.delete(done));
    return { image: this.get(name)!, done };
  }

  /** Removes image `name` and its file; refused while a VM uses it or while it is being added. */
  delete(name: string): void {
    const row = this.#row(name);
    if (!row) throw new ImageError("not_found", `no image ${name} on this node`);
    if (row.state === "adding") {
      throw new ImageError("conflict", `image ${name} is still being added`);
    }
    const users = this.#usersOf(name);
    if (users.length > 0) {
      throw new ImageError("conflict", `image ${name} is in use by VM ${users.join(", ")}`);
    }
    removeQuietly(this.pathOf(name));
    this.#db.prepare("DELETE FROM vm_images WHERE name = ?").run(name);
  }

  /** Waits for every add under way. */
  async settle(): Promise<void> {
    while (this.#jobs.size > 0) await Promise.allSettled([...this.#jobs]);
  }

  /** Abandons the adds under way (each ends `failed`) and waits until they have. */
  async close(): Promise<void> {
    this.#closing.abort(new ImageError("failed", "the node service stopped during the add"));
    await this.settle();
  }

  #rowFor(owner: string, name: string): ImageRow | undefined {
    const own = this.#db.prepare("SELECT * FROM vm_images WHERE added_by = ? AND label = ?")
      .get(owner, name) as ImageRow | undefined;
    if (own) return own;
    return this.#db.prepare("SELECT * FROM vm_images WHERE name = ? AND added_by IS NULL")
      .get(name) as ImageRow | undefined;
  }

  #row(name: string): ImageRow | undefined {
    return this.#db.prepare("SELECT * FROM vm_images WHERE name = ?").get(name) as
      | ImageRow
      | undefined;
  }

  #view({ label: _label, ...row }: ImageRow): VmImage {
    return {
      ...row,
      progress: row.state === "adding" ? (this.#progress.get(row.name) ?? null) : null,
      used_by: this.#usersOf(row.name),
    };
  }

  #fail(name: string, reason: string): void {
    this.#db.prepare(
      "UPDATE vm_images SET state = 'failed', error = ?, updated_at = ? WHERE name = ?",
    )
      .run(reason, this.#now(), name);
  }

  #partPath(name: string): string {
    return `${this.pathOf(name)}.part`;
  }

  async #fill(
    name: string,
    path: string,
    source: ImageSource,
    expectedSha256: string | undefined,
    signal: AbortSignal,
  ): Promise<{ format: string; sizeBytes: number; virtualSizeBytes: number; sha256: string }> {
    const progress = this.#progress.get(name)!;
    const inPlace = source.kind === "path" && source.path === path;
    const target = inPlace ? path : this.#partPath(name);
    // Asked once the size is known (0 when a server does not say), before a byte is written.
    const room = (bytes: number) =>
      this.#diskGuard?.require(this.imageDir, bytes, `image ${name}`) ?? Promise.resolve();
    let sha256: string;
    try {
      sha256 = inPlace
        ? await hashFile(path, progress, signal)
        : await (source.kind === "path"
          ? copyFile(source.path, target, progress, signal, room)
          : download(source.url, target, progress, signal, room, this.#downloads));
      if (expectedSha256 !== undefined && sha256 !== expectedSha256) {
        throw new ImageError(
          "invalid",
          `checksum mismatch: expected sha256 ${expectedSha256}, got ${sha256}`,
        );
      }
      const info = await imageInfo(target);
      // QEMU runs as libvirt's own user and must read the image.
      await Deno.chmod(target, 0o644);
      if (!inPlace) await Deno.rename(target, path);
      return { ...info, sha256, sizeBytes: progress.done_bytes };
    } catch (error) {
      if (!inPlace) removeQuietly(target);
      throw error;
    }
  }
}

/** Streams `source` into `target`, hashing and counting on the way. */
async function writeMetered(
  source: ReadableStream<Uint8Array>,
  target: string,
  progress: Progress,
  signal: AbortSignal,
  onChunk: () => void = () => {},
): Promise<string> {
  const hash = createHash("sha256");
  const out = await Deno.open(target, { write: true, create: true, truncate: true, mode: 0o600 });
  const meter = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      hash.update(chunk);
      progress.done_bytes += chunk.byteLength;
      onChunk();
      controller.enqueue(chunk);
    },
  });
  // pipeTo closes `out` when the stream ends or fails.
  await source.pipeThrough(meter).pipeTo(out.writable, { signal });
  return hash.digest("hex");
}

async function hashFile(path: string, progress: Progress, signal: AbortSignal): Promise<string> {
  const file = await Deno.open(path, { read: true });
  progress.total_bytes = (await file.stat()).size;
  const hash = createHash("sha256");
  for await (const chunk of file.readable) {
    signal.throwIfAborted();
    hash.update(chunk);
    progress.done_bytes += chunk.byteLength;
  }
  return hash.digest("hex");
}

async function copyFile(
  from: string,
  to: string,
  progress: Progress,
  signal: AbortSignal,
  room: (bytes: number) => Promise<void>,
): Promise<string> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(from, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new ImageError("not_found", `no such file: ${from}`);
    }
    if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
      throw new ImageError(
        "invalid",
        `the node service may not read ${from}; place the file in the image directory first`,
      );
    }
    throw error;
  }
  const info = await file.stat();
  if (!info.isFile) {
    file.close();
    throw new ImageError("invalid", `not a regular file: ${from}`);
  }
  progress.total_bytes = info.size;
  try {
    await room(info.size);
  } catch (error) {
    file.close();
    throw error;
  }
  return await writeMetered(file.readable, to, progress, signal);
}

const DOWNLOAD_PROCESS = new URL("./download_process.ts", import.meta.url);

/** What the download process says on stderr before the body: the answer, or why there is none. */
type DownloadHeader =
  | { status: number; length: number | null }
  | { error: string; kind: "not_allowed" | "failed" };

async function download(
  url: string,
  to: string,
  progress: Progress,
  closing: AbortSignal,
  room: (bytes: number) => Promise<void>,
  policy: OutboundPolicy,
): Promise<string> {
  const flags = outboundFlags(policy);
  if (!flags) {
    throw new ImageError(
      "invalid",
      "this node downloads VM images from no host (its image_download_hosts is empty)",
    );
  }
  const idle = new AbortController();
  const signal = AbortSignal.any([idle.signal, closing]);
  let timer = setTimeout(() => idle.abort(), IMAGE_DOWNLOAD_IDLE_TIMEOUT_MS);
  const touch = () => {
    clearTimeout(timer);
    timer = setTimeout(() => idle.abort(), IMAGE_DOWNLOAD_IDLE_TIMEOUT_MS);
  };
  // A process of its own, whose permissions are the policy: see host/outbound.ts.
  const { child, kill } = spawnOutbound(DOWNLOAD_PROCESS, flags, [url, policy.privateAddresses], {
    stdin: "null",
  });
  signal.addEventListener("abort", kill);
  const stderr = stderrLines(child.stderr);
  const stopped = (why: string) =>
    closing.aborted
      ? "the node service stopped during the download"
      : idle.signal.aborted
      ? `download of ${redactUrl(url)} stalled for ${IMAGE_DOWNLOAD_IDLE_TIMEOUT_MS} ms`
      : why;
  try {
    let header: DownloadHeader | undefined;
    try {
      header = JSON.parse((await stderr.next()) ?? "null") ?? undefined;
    } catch {
      header = undefined;
    }
    if (!header) {
      await child.stdout.cancel();
      const status = await child.status;
      throw new ImageError(
        "failed",
        stopped(`the download of ${redactUrl(url)} ended (exit ${status.code}) without an answer`),
      );
    }
    if ("error" in header) {
      await child.stdout.cancel();
      throw new ImageError(
        header.kind === "not_allowed" ? "invalid" : "failed",
        stopped(`cannot download ${redactUrl(url)}: ${header.error}`),
      );
    }
    if (header.status < 200 || header.status > 299) {
      await child.stdout.cancel();
      throw new ImageError(
        "failed",
        `download of ${redactUrl(url)} answered HTTP ${header.status}`,
      );
    }
    progress.total_bytes = header.length !== null && header.length > 0 ? header.length : null;
    try {
      await room(progress.total_bytes ?? 0);
    } catch (error) {
      await child.stdout.cancel();
      throw error;
    }
    let lastTouch = 0;
    let sha256: string;
    try {
      sha256 = await writeMetered(child.stdout, to, progress, signal, () => {
        const now = Date.now();
        if (now - lastTouch >= IMAGE_PROGRESS_INTERVAL_MS) (lastTouch = now), touch();
      });
    } catch (error) {
      throw new ImageError(
        "failed",
        stopped(`download of ${redactUrl(url)} failed: ${(error as Error)?.message ?? error}`),
      );
    }
    const status = await child.status;
    if (!status.success) {
      const reason = failureReason(await stderr.next().catch(() => undefined), status.code);
      throw new ImageError("failed", stopped(`download of ${redactUrl(url)} failed: ${reason}`));
    }
    return sha256;
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", kill);
    kill();
    await stderr.close();
    await child.status;
  }
}

type QemuImgInfo = {
  format?: string;
  "virtual-size"?: number;
  "backing-filename"?: string;
  "full-backing-filename"?: string;
  "format-specific"?: { data?: { "data-file"?: string } };
};

/** Reads the image header; refuses images that would make QEMU open other host files. */
export async function imageInfo(
  path: string,
): Promise<{ format: string; virtualSizeBytes: number }> {
  const result = await runTool("qemu-img", ["info", "--output=json", path], QEMU_IMG_TIMEOUT_MS);
  if (result.kind !== "exited") {
    throw new ImageError(
      "failed",
      result.kind === "not_found"
        ? "qemu-img is not installed (package qemu-utils)"
        : "qemu-img info timed out",
    );
  }
  if (result.code !== 0) {
    throw new ImageError("invalid", `qemu-img cannot read the image: ${result.stderr.trim()}`);
  }
  const info = JSON.parse(result.stdout) as QemuImgInfo;
  if (info["backing-filename"] || info["full-backing-filename"]) {
    throw new ImageError(
      "invalid",
      "the image names a backing file; only standalone images are accepted",
    );
  }
  if (info["format-specific"]?.data?.["data-file"]) {
    throw new ImageError("invalid", "the image names an external data file; refused");
  }
  if (!info.format || !["qcow2", "raw"].includes(info.format)) {
    throw new ImageError(
      "invalid",
      `unsupported image format ${info.format ?? "unknown"} (qcow2 or raw)`,
    );
  }
  return { format: info.format, virtualSizeBytes: info["virtual-size"] ?? 0 };
}

/** A URL without its user name and password, for records and logs. */
function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = "";
    parsed.password = "";
    return parsed.toString();
  } catch {
    return "(unparseable URL)";
  }
}

function removeQuietly(path: string): void {
  try {
    Deno.removeSync(path);
  } catch {
    // Already gone.
  }
}
