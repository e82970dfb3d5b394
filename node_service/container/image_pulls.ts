/**
 * Container images: list, pull (in the background, its progress asked for by
 * id, as the original node's image download), import from a tarball in the
 * node's image directory, and delete, refused while any container (the
 * node's or not) still uses the image.
 */
import {
  type ContainerImage,
  type ImagePullStatus,
  type Logger,
  RpcError,
  silentLogger,
} from "../../mod/mod.ts";
import type { ContainerEngine, ImageListing } from "./engine.ts";
import type { ContainerStore } from "./store.ts";
import { rpcErrorFrom } from "./service.ts";
import type { EventLog } from "../event_log.ts";

/** Finished pulls remembered for progress queries; older ones are forgotten. */
export const MAX_REMEMBERED_PULLS = 32;

export type ContainerImageDeps = {
  engine: ContainerEngine;
  store: ContainerStore;
  events: EventLog;
  /** The directory tarballs are imported from (the node service may read it). */
  imageDir: string;
  now: () => number;
  log?: Logger;
};

type PullJob = { status: ImagePullStatus; abort: AbortController; done: Promise<void> };

export class ContainerImages {
  readonly #deps: ContainerImageDeps;
  readonly #log: Logger;
  readonly #pulls = new Map<string, PullJob>();

  constructor(deps: ContainerImageDeps) {
    this.#deps = deps;
    this.#log = deps.log ?? silentLogger;
  }

  async list(): Promise<ContainerImage[]> {
    try {
      return (await this.#deps.engine.listImages()).map(imageView);
    } catch (error) {
      throw rpcErrorFrom(error);
    }
  }

  /** Starts a pull and returns its first status; ask {@link pullStatus} for the rest. */
  pull(actor: string, image: string): ImagePullStatus {
    const pullId = `pull-${crypto.randomUUID()}`;
    const status: ImagePullStatus = {
      pull_id: pullId,
      image,
      state: "pulling",
      started_at: this.#deps.now(),
      finished_at: null,
      layers: [],
      message: "starting",
    };
    const abort = new AbortController();
    const job: PullJob = { status, abort, done: Promise.resolve() };
    job.done = this.#runPull(actor, job);
    this.#pulls.set(pullId, job);
    this.#forgetOldPulls();
    return structuredClone(status);
  }

  pullStatus(pullId: string): ImagePullStatus {
    const job = this.#pulls.get(pullId);
    if (!job) throw new RpcError("not_found", `no image pull ${pullId}`);
    return structuredClone(job.status);
  }

  /** Waits for a pull to end (tests, shutdown). */
  async settled(pullId: string): Promise<ImagePullStatus> {
    const job = this.#pulls.get(pullId);
    if (!job) throw new RpcError("not_found", `no image pull ${pullId}`);
    await job.done;
    return structuredClone(job.status);
  }

  /** Abandons every pull still running. */
  stop(): void {
    for (const job of this.#pulls.values()) job.abort.abort();
  }

  async #runPull(actor: string, job: PullJob): Promise<void> {
    const status = job.status;
    const layers = new Map<string, ImagePullStatus["layers"][number]>();
    try {
      for await (const event of this.#deps.engine.pullImage(status.image, job.abort.signal)) {
        if (event.kind === "error") {
          status.state = "failed";
          status.message = event.message;
          break;
        }
        status.message = event.status;
        if (event.layer) {
          layers.set(event.layer, {
            id: event.layer,
            status: event.status,
            current_bytes: event.currentBytes,
            total_bytes: event.totalBytes,
          });
          status.layers = [...layers.values()];
        }
      }
      if (status.state === "pulling") status.state = "done";
    } catch (error) {
      status.state = "failed";
      status.message = rpcErrorFrom(error).message;
    }
    status.finished_at = this.#deps.now();
    this.#deps.events.record({
      actor,
      action: "container_image.pull",
      target: status.image,
      result: status.state === "done" ? "ok" : "error",
      detail: { pull_id: status.pull_id, message: status.message },
    });
    this.#log.info("image pull ended", { image: status.image, state: status.state });
  }

  #forgetOldPulls(): void {
    const finished = [...this.#pulls.entries()].filter(([, job]) => job.status.state !== "pulling");
    for (const [pullId] of finished.slice(0, Math.max(0, finished.length - MAX_REMEMBERED_PULLS))) {
      this.#pulls.delete(pullId);
    }
  }

  /** Imports `<imageDir>/<file>` (a root-filesystem tarball) as `image`. */
  async import(actor: string, file: string, image: string): Promise<ContainerImage> {
    const path = `${this.#deps.imageDir}/${file}`;
    try {
      let handle: Deno.FsFile;
      try {
        handle = await Deno.open(path, { read: true });
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) {
          throw new RpcError(
            "not_found",
            `no file ${file} in the image directory ${this.#deps.imageDir}`,
          );
        }
        throw error;
      }
      // The engine consumes (and closes) the stream.
      const id = await this.#deps.engine.importImage(image, handle.readable);
      const listed = (await this.#deps.engine.listImages()).find((candidate) =>
        candidate.id === id
      );
      const result = listed
        ? imageView(listed)
        : { id, tags: [image], size_bytes: 0, created_at: null };
      this.#deps.events.record({
        actor,
        action: "container_image.import",
        target: image,
        result: "ok",
        detail: { file, id },
      });
      return result;
    } catch (error) {
      const rpcError = rpcErrorFrom(error);
      this.#deps.events.record({
        actor,
        action: "container_image.import",
        target: image,
        result: "error",
        detail: { file, error: rpcError.message },
      });
      throw rpcError;
    }
  }

  /** Deletes an image no container uses; names the users when some do. */
  async delete(actor: string, image: string): Promise<{ deleted: string }> {
    try {
      const users = await this.#users(image);
      if (users.length > 0) {
        throw new RpcError(
          "conflict",
          `image ${image} is in use by container(s) ${users.join(", ")}; delete them first`,
        );
      }
      await this.#deps.engine.removeImage(image);
      this.#deps.events.record({
        actor,
        action: "container_image.delete",
        target: image,
        result: "ok",
      });
      return { deleted: image };
    } catch (error) {
      const rpcError = rpcErrorFrom(error);
      this.#deps.events.record({
        actor,
        action: "container_image.delete",
        target: image,
        result: "error",
        detail: { error: rpcError.message },
      });
      throw rpcError;
    }
  }

  /**
   * The node's containers (not deleted) recorded with this image, and any
   * engine container using it: the engine would refuse too, but only for
   * the containers it still has, and with a less helpful message.
   */
  async #users(image: string): Promise<string[]> {
    const images = await this.#deps.engine.listImages();
    const target = images.find((candidate) =>
      candidate.id === image || candidate.id === `sha256:${image}` ||
      candidate.id.startsWith(`sha256:${image}`) || candidate.tags.includes(image) ||
      candidate.tags.includes(`${image}:latest`)
    );
    const names = new Set<string>([image, ...(target?.tags ?? [])]);
    const users = new Set<string>();
    for (const record of this.#deps.store.list({ includeDeleted: false })) {
      if (names.has(record.image) && record.state !== "failed") users.add(record.id);
    }
    for (const container of await this.#deps.engine.listContainers([])) {
      if (names.has(container.image) || (target && container.image === target.id)) {
        users.add(container.labels["dbc.instance"] ?? container.name);
      }
    }
    return [...users].sort();
  }
}

function imageView(image: ImageListing): ContainerImage {
  return {
    id: image.id,
    tags: image.tags,
    size_bytes: image.sizeBytes,
    created_at: image.createdAt,
  };
}
