/**
 * Transfers between this node and its image servers: a download makes a
 * file of a server into a VM image here (the operator's, or a renter's own),
 * an upload sends an image, a stopped VM's disk or one of its snapshots to a
 * server. Each answers at once with its record and moves the bytes in the
 * background, with progress; each can be stopped.
 *
 * Nothing half-made stays behind. A download writes
 * `<image_dir>/.transfers/<id>.part` and becomes an image only once whole and
 * checked against its SHA-256 (given, or the server's `<name>.sha256`
 * sidecar); a stop, a failure or a node restart removes the partial file.
 * Every transfer's record is kept in the node's database (store.ts): one
 * under way when the node service stopped or died reads `interrupted` after
 * the restart.
 * A download whose connection breaks goes on where it stopped (HTTP Range,
 * when the server answers ranges) up to {@link MAX_DOWNLOAD_RESUMES} times.
 * An upload streams the file in one PUT: nginx's WebDAV stores the body under
 * a temporary name and renames it only once complete, so a stopped upload
 * leaves nothing there (and the node deletes the name anyway); it cannot
 * resume (nginx answers a partial PUT with 501), so a broken one fails.
 * After it the node writes `<name>.sha256` beside it and checks the size the
 * server lists.
 */
import { createHash } from "node:crypto";
import type { ImageTransfer, TransferState, UploadSource } from "../../mod/mod.ts";
import type { Logger } from "../../mod/mod.ts";
import type { NewEvent } from "../event_log.ts";
import type { ImageServerClient } from "./client.ts";
import {
  EXPORT_TIMEOUT_MS,
  MAX_DOWNLOAD_RESUMES,
  MAX_FINISHED_TRANSFERS,
  MAX_RUNNING_TRANSFERS,
  SHA256_SIDECAR_SUFFIX,
  TRANSFER_DIR_NAME,
  TRANSFER_IDLE_TIMEOUT_MS,
  TRANSFER_SAVE_INTERVAL_MS,
} from "./constants.ts";
import { checkFileName } from "./names.ts";
import { TransferError } from "./requester.ts";
import { findServer, type ImageServer } from "./servers.ts";
import { INTERRUPTED_ERROR, type TransferStore } from "./store.ts";
import { sha256SidecarText } from "./webdav.ts";

/** What the transfers need of the VM images (the node's ImageStore). */
export type TransferImages = {
  /** The image stored under `key`, if any: its state and the VMs using it. */
  get(key: string): { state: string; used_by: string[]; added_by: string | null } | undefined;
  /** The key a renter's image `name` is stored under. */
  keyFor(owner: string | undefined, name: string): string;
  /** How many images `owner` keeps. */
  countOf(owner: string): number;
  pathOf(key: string): string;
  /** Records the file already at `pathOf(key)` as image `name` (checks it); settles when ready. */
  addInPlace(
    name: string,
    owner: string | undefined,
    sha256: string,
    maxPerOwner: number | undefined,
  ): Promise<{ state: string; error: string | null }>;
};

/** What the transfers need of the VMs. */
export type TransferVms = {
  find(id: string): { owner: string; state: string } | undefined;
  snapshots(id: string): string[];
  diskPath(id: string): string;
};

/** Makes a VM's disk (or one snapshot of it) into one standalone qcow2 file. */
export type DiskExporter = (
  disk: string,
  snapshot: string | undefined,
  out: string,
  signal: AbortSignal,
) => Promise<void>;

export type TransferDeps = {
  servers: readonly ImageServer[];
  client: ImageServerClient;
  imageDir: string;
  /** Where the records outlive a restart. */
  store: TransferStore;
  images: TransferImages;
  vms: TransferVms;
  exportDisk: DiskExporter;
  /** Refuses `what` when `bytes` more in the image directory would break the free-space reserve. */
  room: (bytes: number, what: string) => Promise<void>;
  record: (event: NewEvent) => void;
  now: () => number;
  log: Logger;
};

export type DownloadRequest = {
  actor: string;
  owner?: string;
  server: string;
  remote_name: string;
  image_name?: string;
  sha256?: string;
  max_per_owner?: number;
};

export type UploadRequest = {
  actor: string;
  owner?: string;
  server: string;
  source: UploadSource;
  remote_name?: string;
};

type Running = {
  record: ImageTransfer;
  stop: AbortController;
  job: Promise<void>;
  /** When the record was last written to the store. */
  savedAt: number;
};

export class TransferService {
  readonly #deps: TransferDeps;
  /** The transfers under way (finished ones are only in the store). */
  readonly #transfers = new Map<string, Running>();
  readonly #dir: string;
  /** Set by close(): what it cuts off is `interrupted`, as after a crash. */
  #closing = false;

  constructor(deps: TransferDeps) {
    this.#deps = deps;
    this.#dir = `${deps.imageDir.replace(/\/+$/, "")}/${TRANSFER_DIR_NAME}`;
  }

  /**
   * After a restart: the transfers that were under way are marked `interrupted`, and what they
   * left is half-made, so it goes.
   */
  recover(): { interrupted: string[]; files: number } {
    const interrupted = this.#deps.store.markInterrupted(this.#deps.now());
    let removed = 0;
    try {
      for (const entry of Deno.readDirSync(this.#dir)) {
        removeQuietly(`${this.#dir}/${entry.name}`);
        removed++;
      }
    } catch {
      // No directory yet: nothing was left.
    }
    Deno.mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
    return { interrupted, files: removed };
  }

  /** Newest first; the running ones with their progress of this moment. */
  list(owner?: string): ImageTransfer[] {
    return this.#deps.store.list(owner)
      .map((stored) => ({ ...(this.#transfers.get(stored.transfer_id)?.record ?? stored) }));
  }

  /** Transfer `id` as `owner` may see it (the operator sees every one). */
  get(id: string, owner?: string): ImageTransfer {
    const record = this.#transfers.get(id)?.record ?? this.#deps.store.get(id);
    if (!record || (owner !== undefined && record.owner !== owner)) {
      throw new TransferError("not_found", `no transfer ${id} on this node`);
    }
    return { ...record };
  }

  /** Stops a running transfer and waits until what it wrote is gone. */
  async stop(actor: string, id: string, owner?: string): Promise<ImageTransfer> {
    const record = this.get(id, owner);
    const running = this.#transfers.get(id);
    if (record.state !== "running" || !running) {
      throw new TransferError("conflict", `transfer ${id} is ${record.state}, not running`);
    }
    this.#deps.log.info("stopping an image transfer", { transfer: id, actor });
    running.stop.abort(new TransferError("stopped", `stopped by ${actor}`));
    await running.job;
    return { ...running.record };
  }

  /** Checks a download and starts it; refusals (a bad name, no checksum, a taken name) come at once. */
  async download(request: DownloadRequest): Promise<ImageTransfer> {
    const remoteName = checkFileName(request.remote_name, "image_filename");
    const imageName = checkFileName(request.image_name ?? request.remote_name, "image name");
    const server = findServer(this.#deps.servers, request.server);
    this.#refuseTakenImage(request.owner, imageName, request.max_per_owner);
    this.#refuseBusy((record) =>
      record.kind === "download" && record.local === imageName && record.owner === ownerOf(request)
    );
    const files = await this.#deps.client.list(server);
    const file = files.find((candidate) => candidate.name === remoteName);
    if (!file) {
      throw new TransferError(
        "not_found",
        `image:${remoteName} not exist on image server ${server.id}`,
      );
    }
    const sidecar = file.hasSha256
      ? await this.#deps.client.sidecarSha256(server, remoteName)
      : undefined;
    if (request.sha256 && sidecar && request.sha256 !== sidecar) {
      throw new TransferError(
        "invalid",
        `the sha256 given (${request.sha256}) differs from the server's ${remoteName}` +
          `${SHA256_SIDECAR_SUFFIX} (${sidecar})`,
      );
    }
    const expected = request.sha256 ?? sidecar;
    if (!expected) {
      throw new TransferError(
        "invalid",
        `no checksum for ${remoteName}: image server ${server.id} has no ` +
          `${remoteName}${SHA256_SIDECAR_SUFFIX} and no sha256 was given`,
      );
    }
    await this.#deps.room(file.sizeBytes ?? 0, `image ${imageName}`);
    // Checked again: the listing took a while.
    this.#refuseTakenImage(request.owner, imageName, request.max_per_owner);
    const running = this.#begin(request, server, "download", remoteName, imageName, file.sizeBytes);
    running.job = this.#run(
      running,
      request.actor,
      () => this.#download(running, server, imageName, expected, request),
    );
    return { ...running.record };
  }

  /** Checks an upload and starts it; refusals (a running VM, a name taken there) come at once. */
  async upload(request: UploadRequest): Promise<ImageTransfer> {
    const server = findServer(this.#deps.servers, request.server);
    const source = this.#resolveSource(request);
    const remoteName = checkFileName(request.remote_name ?? source.defaultName, "image_filename");
    this.#refuseBusy((record) =>
      record.kind === "upload" && record.server === server.id && record.remote_name === remoteName
    );
    const files = await this.#deps.client.list(server);
    if (files.some((file) => file.name === remoteName)) {
      throw new TransferError(
        "conflict",
        `image:${remoteName} already exists on image server ${server.id}; name another`,
      );
    }
    if (source.kind === "disk") {
      // The export is at most the disk's allocated size (qcow2 compacts what it copies).
      const allocated = await Deno.stat(source.disk).then((info) => info.size, () => 0);
      await this.#deps.room(allocated, `the export of ${source.label}`);
    }
    const running = this.#begin(request, server, "upload", remoteName, source.label, null);
    running.job = this.#run(running, request.actor, () => this.#upload(running, server, source));
    return { ...running.record };
  }

  /** Stops every transfer (the node service stops) and waits for them. */
  async close(): Promise<void> {
    this.#closing = true;
    for (const running of this.#transfers.values()) {
      if (running.record.state === "running") {
        running.stop.abort(new TransferError("stopped", "the node service stopped"));
      }
    }
    await Promise.allSettled([...this.#transfers.values()].map((running) => running.job));
  }

  #refuseTakenImage(owner: string | undefined, name: string, maxPerOwner?: number): void {
    const key = this.#deps.images.keyFor(owner, name);
    const image = this.#deps.images.get(key);
    if (image && image.state !== "failed") {
      const use = image.used_by.length > 0 ? ` and in use by VM ${image.used_by.join(", ")}` : "";
      throw new TransferError(
        "conflict",
        `image ${name} is already on this node (${image.state}${use}); delete it first or name ` +
          "the download otherwise",
      );
    }
    if (owner !== undefined && maxPerOwner !== undefined) {
      const held = this.#deps.images.countOf(owner);
      if (held >= maxPerOwner) {
        throw new TransferError(
          "conflict",
          `you already keep ${held} images on this node (at most ${maxPerOwner}); delete one first`,
        );
      }
    }
  }

  #refuseBusy(same: (record: ImageTransfer) => boolean): void {
    const running = [...this.#transfers.values()].filter((r) => r.record.state === "running");
    const twin = running.find((r) => same(r.record));
    if (twin) {
      throw new TransferError(
        "conflict",
        `transfer ${twin.record.transfer_id} of ${twin.record.remote_name} is under way`,
      );
    }
    if (running.length >= MAX_RUNNING_TRANSFERS) {
      throw new TransferError(
        "conflict",
        `${running.length} transfers are under way on this node (at most ${MAX_RUNNING_TRANSFERS}); ` +
          "try again when one has finished",
      );
    }
  }

  #resolveSource(request: UploadRequest): ExportSource {
    const { source, owner } = request;
    if (source.kind === "image") {
      const name = checkFileName(source.name, "image name");
      const key = this.#deps.images.keyFor(owner, name);
      const image = this.#deps.images.get(key);
      if (!image) throw new TransferError("not_found", `image:${name} not exist on this node`);
      if (image.state !== "ready") {
        throw new TransferError("conflict", `image ${name} is ${image.state}, not ready`);
      }
      return {
        kind: "file",
        path: this.#deps.images.pathOf(key),
        label: `image ${name}`,
        defaultName: name,
      };
    }
    const vm = this.#deps.vms.find(source.task_id);
    if (!vm || vm.state === "deleted" || (owner !== undefined && vm.owner !== owner)) {
      throw new TransferError("not_found", `task not exist: ${source.task_id}`);
    }
    if (vm.state !== "stopped") {
      throw new TransferError(
        "conflict",
        `VM ${source.task_id} is ${vm.state}: its disk is in use; stop it before uploading it`,
      );
    }
    if (
      source.snapshot !== undefined &&
      !this.#deps.vms.snapshots(source.task_id).includes(source.snapshot)
    ) {
      throw new TransferError(
        "not_found",
        `VM ${source.task_id} has no snapshot ${source.snapshot}`,
      );
    }
    const label = source.snapshot === undefined
      ? `VM ${source.task_id}`
      : `snapshot ${source.snapshot} of VM ${source.task_id}`;
    const defaultName = source.snapshot === undefined
      ? `${source.task_id}.qcow2`
      : `${source.task_id}-${source.snapshot.replace(/[^A-Za-z0-9._-]/g, "_")}.qcow2`;
    return {
      kind: "disk",
      disk: this.#deps.vms.diskPath(source.task_id),
      snapshot: source.snapshot,
      label,
      defaultName,
    };
  }

  #begin(
    request: { owner?: string },
    server: ImageServer,
    kind: ImageTransfer["kind"],
    remoteName: string,
    local: string,
    totalBytes: number | null,
  ): Running {
    const at = this.#deps.now();
    const record: ImageTransfer = {
      transfer_id: `tr-${crypto.randomUUID().replaceAll("-", "").slice(0, 20)}`,
      kind,
      server: server.id,
      remote_name: remoteName,
      local,
      owner: ownerOf(request),
      state: "running",
      phase: "transferring",
      done_bytes: 0,
      total_bytes: totalBytes,
      resumed: 0,
      sha256: null,
      error: null,
      started_at: at,
      updated_at: at,
    };
    const running: Running = {
      record,
      stop: new AbortController(),
      job: Promise.resolve(),
      savedAt: at,
    };
    this.#deps.store.save(record);
    this.#deps.store.forgetOld(MAX_FINISHED_TRANSFERS);
    this.#transfers.set(record.transfer_id, running);
    return running;
  }

  /** Writes the record now (a new phase, its end). */
  #save(running: Running): void {
    running.record.updated_at = this.#deps.now();
    running.savedAt = running.record.updated_at;
    this.#deps.store.save(running.record);
  }

  /** Counts `bytes` more; the store hears of it every {@link TRANSFER_SAVE_INTERVAL_MS}. */
  #moved(running: Running, bytes: number): void {
    running.record.done_bytes += bytes;
    running.record.updated_at = this.#deps.now();
    if (running.record.updated_at - running.savedAt >= TRANSFER_SAVE_INTERVAL_MS) {
      this.#save(running);
    }
  }

  #phase(running: Running, phase: ImageTransfer["phase"]): void {
    running.record.phase = phase;
    this.#save(running);
  }

  /** Runs a transfer's work; its end (done, failed, stopped) goes to its record and the event log. */
  async #run(running: Running, actor: string, work: () => Promise<void>): Promise<void> {
    const { record } = running;
    const startedAt = record.started_at;
    let state: TransferState = "done";
    try {
      await work();
    } catch (error) {
      const aborted = running.stop.signal.aborted;
      state = aborted ? (this.#closing ? "interrupted" : "stopped") : "failed";
      record.error = state === "interrupted"
        ? INTERRUPTED_ERROR
        : aborted
        ? (running.stop.signal.reason as Error)?.message ?? "stopped"
        : (error as Error)?.message ?? String(error);
    }
    record.state = state;
    record.phase = "finished";
    try {
      this.#save(running);
    } catch (error) {
      // The database is gone (the service is stopping): the next start marks it interrupted.
      this.#deps.log.warn("cannot record an image transfer's end", {
        transfer: record.transfer_id,
        error: String(error),
      });
    }
    this.#transfers.delete(record.transfer_id);
    this.#deps.record({
      actor,
      action: `image_server.${record.kind}`,
      target: `${record.server}/${record.remote_name}`,
      result: state === "done" ? "ok" : "error",
      detail: {
        transfer_id: record.transfer_id,
        local: record.local,
        state,
        bytes: record.done_bytes,
        resumed: record.resumed,
        ...(record.error ? { error: record.error } : {}),
      },
      startedAt,
    });
  }

  async #download(
    running: Running,
    server: ImageServer,
    imageName: string,
    expected: string,
    request: DownloadRequest,
  ): Promise<void> {
    const { record } = running;
    const part = `${this.#dir}/${record.transfer_id}.part`;
    try {
      const sha256 = await this.#fetchInto(running, server, part);
      this.#phase(running, "verifying");
      if (sha256 !== expected) {
        throw new TransferError(
          "invalid",
          `checksum mismatch: expected sha256 ${expected}, got ${sha256}`,
        );
      }
      record.sha256 = sha256;
      // Synchronous from the check to the record: no other add can slip in between.
      this.#refuseTakenImage(request.owner, imageName);
      const key = this.#deps.images.keyFor(request.owner, imageName);
      const target = this.#deps.images.pathOf(key);
      Deno.renameSync(part, target);
      let added: Promise<{ state: string; error: string | null }>;
      try {
        added = this.#deps.images.addInPlace(
          imageName,
          request.owner,
          sha256,
          request.max_per_owner,
        );
      } catch (error) {
        removeQuietly(target);
        throw error;
      }
      const image = await added;
      if (image.state !== "ready") {
        removeQuietly(target);
        throw new TransferError("invalid", `image ${imageName} was refused: ${image.error}`);
      }
    } finally {
      removeQuietly(part);
    }
  }

  /** GETs the file into `part`, going on where it stopped after a break; returns its SHA-256. */
  async #fetchInto(running: Running, server: ImageServer, part: string): Promise<string> {
    const { record } = running;
    let hash = createHash("sha256");
    const out = await Deno.open(part, { write: true, create: true, truncate: true, mode: 0o600 });
    try {
      for (let attempt = 0;; attempt++) {
        running.stop.signal.throwIfAborted();
        const idle = idleSignal(running.stop.signal);
        let broken: string | undefined;
        try {
          const fetched = await this.#deps.client.get(
            server,
            record.remote_name,
            record.done_bytes,
            idle.signal,
          );
          if (fetched.from === 0 && record.done_bytes > 0) {
            // The server ignored the range: start again from the first byte.
            await out.truncate(0);
            await out.seek(0, Deno.SeekMode.Start);
            hash = createHash("sha256");
            record.done_bytes = 0;
          }
          record.total_bytes = fetched.totalBytes ?? record.total_bytes;
          for await (const chunk of fetched.answer.body) {
            idle.touch();
            hash.update(chunk);
            await writeAll(out, chunk);
            this.#moved(running, chunk.byteLength);
          }
          broken = await fetched.answer.finished;
          if (!broken && record.total_bytes !== null && record.done_bytes < record.total_bytes) {
            broken =
              `the connection closed after ${record.done_bytes} of ${record.total_bytes} bytes`;
          }
        } catch (error) {
          if (
            error instanceof TransferError && error.kind !== "failed" && error.kind !== "stopped"
          ) throw error;
          broken = (error as Error)?.message ?? String(error);
        } finally {
          idle.clear();
        }
        running.stop.signal.throwIfAborted();
        if (!broken) return hash.digest("hex");
        if (attempt >= MAX_DOWNLOAD_RESUMES) {
          throw new TransferError(
            "failed",
            `download of ${record.remote_name} broke off: ${broken}`,
          );
        }
        record.resumed++;
        this.#deps.log.warn("image download broke off; going on where it stopped", {
          transfer: record.transfer_id,
          at_byte: record.done_bytes,
          reason: broken,
        });
      }
    } finally {
      out.close();
    }
  }

  async #upload(running: Running, server: ImageServer, source: ExportSource): Promise<void> {
    const { record } = running;
    const exported = `${this.#dir}/${record.transfer_id}.qcow2`;
    let path = source.kind === "file" ? source.path : exported;
    let sent = false;
    try {
      if (source.kind === "disk") {
        this.#phase(running, "exporting");
        await this.#deps.exportDisk(source.disk, source.snapshot, exported, running.stop.signal);
        path = exported;
        this.#phase(running, "transferring");
      }
      const file = await Deno.open(path, { read: true });
      const size = (await file.stat()).size;
      record.total_bytes = size;
      const hash = createHash("sha256");
      const idle = idleSignal(running.stop.signal);
      const meter = new TransformStream<Uint8Array, Uint8Array>({
        transform: (chunk, controller) => {
          idle.touch();
          hash.update(chunk);
          this.#moved(running, chunk.byteLength);
          controller.enqueue(chunk);
        },
      });
      sent = true;
      try {
        await this.#deps.client.put(
          server,
          record.remote_name,
          file.readable.pipeThrough(meter),
          size,
          idle.signal,
        );
      } finally {
        idle.clear();
      }
      running.stop.signal.throwIfAborted();
      const sha256 = hash.digest("hex");
      this.#phase(running, "verifying");
      record.sha256 = sha256;
      const sidecar = new TextEncoder().encode(sha256SidecarText(sha256, record.remote_name));
      await this.#deps.client.put(
        server,
        `${record.remote_name}${SHA256_SIDECAR_SUFFIX}`,
        ReadableStream.from([sidecar]),
        sidecar.byteLength,
        running.stop.signal,
      );
      const listed = (await this.#deps.client.list(server, running.stop.signal))
        .find((entry) => entry.name === record.remote_name);
      if (listed?.sizeBytes !== size) {
        throw new TransferError(
          "failed",
          `image server ${server.id} lists ${record.remote_name} with ${
            listed?.sizeBytes ?? "no"
          } ` +
            `bytes, not the ${size} sent`,
        );
      }
    } catch (error) {
      if (sent) {
        // Whatever the server kept of it goes: the name was free before this upload.
        await this.#deps.client.remove(server, record.remote_name).catch(() => {});
        await this.#deps.client.remove(server, `${record.remote_name}${SHA256_SIDECAR_SUFFIX}`)
          .catch(() => {});
      }
      throw error;
    } finally {
      if (source.kind === "disk") removeQuietly(exported);
    }
  }
}

type ExportSource =
  | { kind: "file"; path: string; label: string; defaultName: string }
  | {
    kind: "disk";
    disk: string;
    snapshot: string | undefined;
    label: string;
    defaultName: string;
  };

function ownerOf(request: { owner?: string }): string | null {
  return request.owner ?? null;
}

/** A signal that aborts with `parent`, or when {@link TRANSFER_IDLE_TIMEOUT_MS} pass without `touch`. */
function idleSignal(parent: AbortSignal) {
  const idle = new AbortController();
  let timer = setTimeout(() => idle.abort(), TRANSFER_IDLE_TIMEOUT_MS);
  let last = Date.now();
  return {
    signal: AbortSignal.any([parent, idle.signal]),
    touch() {
      const now = Date.now();
      // Re-arming a timer for every chunk would cost more than the chunk.
      if (now - last < 1_000) return;
      last = now;
      clearTimeout(timer);
      timer = setTimeout(() => idle.abort(), TRANSFER_IDLE_TIMEOUT_MS);
    },
    clear: () => clearTimeout(timer),
  };
}

async function writeAll(file: Deno.FsFile, chunk: Uint8Array): Promise<void> {
  let at = 0;
  while (at < chunk.byteLength) at += await file.write(chunk.subarray(at));
}

function removeQuietly(path: string): void {
  try {
    Deno.removeSync(path);
  } catch {
    // Already gone.
  }
}

/** Exports with `qemu-img convert`: a standalone qcow2 of the disk, or of one internal snapshot. */
export const qemuImgExporter: DiskExporter = async (disk, snapshot, out, signal) => {
  const args = [
    "convert",
    "-q",
    "-O",
    "qcow2",
    ...(snapshot ? ["-l", `snapshot.name=${snapshot}`] : []),
    disk,
    out,
  ];
  const child = new Deno.Command("qemu-img", {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    env: { LC_ALL: "C" },
  }).spawn();
  const kill = () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  };
  const timer = setTimeout(kill, EXPORT_TIMEOUT_MS);
  signal.addEventListener("abort", kill, { once: true });
  try {
    const { code, stderr } = await child.output();
    signal.throwIfAborted();
    if (code !== 0) {
      const text = new TextDecoder().decode(stderr).trim().replace(/^qemu-img:\s*/, "");
      const hint = /lock/i.test(text) ? " (the disk is in use: is the VM running?)" : "";
      throw new TransferError("failed", `cannot export the disk: ${text}${hint}`);
    }
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", kill);
  }
};
