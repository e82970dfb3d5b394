/**
 * Parameters and results of the container and container-image methods of
 * {@link METHODS}. Every field a renter can set is bounded here, once, so the
 * node service never sees an unchecked value.
 */
import { z } from "zod";
import {
  ActorSchema,
  InstanceIdSchema,
  InstanceSummarySchema,
  SshPublicKeysSchema,
} from "./instance.ts";

/** Limits on what a renter may ask for; generous, but finite. */
export const CONTAINER_LIMITS = {
  maxCommandArgs: 64,
  maxArgLength: 4096,
  maxEnvEntries: 128,
  maxEnvValueLength: 4096,
  maxPorts: 32,
  maxGpus: 16,
  maxCpuCores: 256,
  /** Docker refuses less than 6 MiB. */
  minMemoryMib: 6,
  maxMemoryMib: 4 * 1024 * 1024,
  /** At most this many log lines a request, as in the original node. */
  maxLogLines: 100,
} as const;

/**
 * An image reference as the Docker API takes it: `[registry[:port]/]path[:tag][@digest]`.
 * Lower-case path components, as Docker's reference grammar requires.
 */
export const ImageReferenceSchema = z.string().max(255).regex(
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?(?::\d{1,5})?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/,
  { message: "expected an image reference like registry/name:tag" },
).refine((reference) => {
  // As in Docker: a first component is a registry only when it looks like a host.
  const slash = reference.indexOf("/");
  const first = slash === -1 ? "" : reference.slice(0, slash);
  return first === "" || first === "localhost" || /[.:]/.test(first) ||
    first === first.toLowerCase();
}, { message: "expected a lower-case repository name (or a registry host before the first '/')" });

/** An image reference, or an image id (`sha256:<hex>` or a hex prefix of at least 12). */
export const ImageNameOrIdSchema = z.union([
  ImageReferenceSchema,
  z.string().regex(/^(?:sha256:)?[a-f0-9]{12,64}$/, { message: "expected an image id" }),
]);

const PortSchema = z.number().int().min(1).max(65535);
export const PortProtocolSchema = z.enum(["tcp", "udp"]);

/** A renter's port: the container port, and the host port (chosen by the node when absent). */
export const PortRequestSchema = z.object({
  container_port: PortSchema,
  protocol: PortProtocolSchema.default("tcp"),
  host_port: PortSchema.optional(),
}).strict();

/** A published port as the node assigned it. */
export const PortBindingSchema = z.object({
  container_port: PortSchema,
  protocol: PortProtocolSchema,
  host_port: PortSchema,
});
export type PortBinding = z.infer<typeof PortBindingSchema>;

/** GPUs by count (the node picks free ones), by nvidia-smi index, or by UUID. */
export const GpuRequestSchema = z.union([
  z.object({ count: z.number().int().min(0).max(CONTAINER_LIMITS.maxGpus) }).strict(),
  z.object({
    indexes: z.array(z.number().int().min(0).max(1023)).max(CONTAINER_LIMITS.maxGpus),
  }).strict(),
  z.object({
    uuids: z.array(
      z.string().regex(/^GPU-[A-Za-z0-9-]{1,64}$/, {
        message: "expected a GPU UUID like GPU-…",
      }),
    ).max(CONTAINER_LIMITS.maxGpus),
  }).strict(),
]);
export type GpuRequest = z.infer<typeof GpuRequestSchema>;

const EnvNameSchema = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, {
  message: "expected an environment variable name",
});
const AbsolutePathSchema = z.string().max(1024).regex(/^\/(?:[^\0:]*[^\0:/])?$/, {
  message: "expected an absolute path without ':'",
}).refine((path) => path !== "/" && !path.split("/").includes(".."), {
  message: "expected an absolute path below / without '..'",
});

export const ContainerCreateParamsSchema = z.object({
  actor: ActorSchema,
  /** Chosen by the caller when it must know the id before the create finishes; new ids only. */
  id: InstanceIdSchema.optional(),
  /** Who rents it; the actor when absent. */
  owner: ActorSchema.optional(),
  image: ImageReferenceSchema,
  command: z.array(z.string().max(CONTAINER_LIMITS.maxArgLength)).max(
    CONTAINER_LIMITS.maxCommandArgs,
  ).optional(),
  env: z.record(EnvNameSchema, z.string().max(CONTAINER_LIMITS.maxEnvValueLength)).refine(
    (env) => Object.keys(env).length <= CONTAINER_LIMITS.maxEnvEntries,
    { message: `at most ${CONTAINER_LIMITS.maxEnvEntries} variables` },
  ).optional(),
  gpus: GpuRequestSchema.default({ count: 0 }),
  cpu_cores: z.number().positive().max(CONTAINER_LIMITS.maxCpuCores).optional(),
  memory_mib: z.number().int().min(CONTAINER_LIMITS.minMemoryMib).max(
    CONTAINER_LIMITS.maxMemoryMib,
  ).optional(),
  /**
   * Publishes the container's SSH port 22/tcp (`host_port` absent: the node picks one), and
   * installs `authorized_keys` as root's before the container starts. The image brings the server.
   */
  ssh: z.object({
    host_port: PortSchema.optional(),
    authorized_keys: SshPublicKeysSchema.optional(),
  }).strict().optional(),
  ports: z.array(PortRequestSchema).max(CONTAINER_LIMITS.maxPorts).default([]),
  /** A named volume mounted at `mount_path` that outlives restarts (and delete, when kept). */
  volume: z.object({ mount_path: AbsolutePathSchema }).strict().optional(),
}).strict();
export type ContainerCreateParams = z.input<typeof ContainerCreateParamsSchema>;
export type ContainerCreateRequest = z.infer<typeof ContainerCreateParamsSchema>;

/** What the engine says about the container right now, or why it cannot say. */
export const ContainerEngineViewSchema = z.discriminatedUnion("state", [
  z.object({
    state: z.literal("present"),
    /** The engine's word: created, running, paused, restarting, exited, dead, ... */
    status: z.string(),
    exit_code: z.number().int().nullable(),
    started_at: z.number().nullable(),
    finished_at: z.number().nullable(),
    ports: z.array(PortBindingSchema),
  }),
  z.object({ state: z.literal("missing") }),
  z.object({ state: z.literal("unavailable"), reason: z.string() }),
]);
export type ContainerEngineView = z.infer<typeof ContainerEngineViewSchema>;

export const ContainerSchema = InstanceSummarySchema.extend({
  kind: z.literal("container"),
  image: z.string(),
  /** The engine's container name (`dbc-<id>`) and id (null until created). */
  name: z.string(),
  engine_id: z.string().nullable(),
  ports: z.array(PortBindingSchema),
  cpu_cores: z.number().nullable(),
  memory_mib: z.number().nullable(),
  volume: z.object({
    name: z.string(),
    mount_path: z.string(),
    /** True once the container is deleted and its volume kept on request. */
    kept: z.boolean(),
  }).nullable(),
});
export type Container = z.infer<typeof ContainerSchema>;

export const ContainerDetailSchema = ContainerSchema.extend({ engine: ContainerEngineViewSchema });
export type ContainerDetail = z.infer<typeof ContainerDetailSchema>;

const ContainerTarget = { actor: ActorSchema, id: InstanceIdSchema };
export const ContainerTargetSchema = z.object(ContainerTarget).strict();
export const ContainerDeleteParamsSchema = z.object({
  ...ContainerTarget,
  /** Keep the persistent volume (the renter's data) after the container is gone. */
  keep_volume: z.boolean().default(false),
}).strict();
export const ContainerGetParamsSchema = z.object({ id: InstanceIdSchema }).strict();
export const ContainerListParamsSchema = z.object({
  /** Deleted containers are left out unless asked for. */
  include_deleted: z.boolean().default(false),
}).strict();

export const ContainerLogsParamsSchema = z.object({
  id: InstanceIdSchema,
  from: z.enum(["head", "tail"]).default("tail"),
  lines: z.number().int().min(1).max(CONTAINER_LIMITS.maxLogLines).default(
    CONTAINER_LIMITS.maxLogLines,
  ),
}).strict();
export const LogLineSchema = z.object({ stream: z.enum(["stdout", "stderr"]), text: z.string() });
export type LogLine = z.infer<typeof LogLineSchema>;
export const ContainerLogsSchema = z.object({
  lines: z.array(LogLineSchema),
  /** True when a line or the whole answer was cut to stay within the byte limit. */
  truncated: z.boolean(),
});

export const ContainerEngineStatusSchema = z.discriminatedUnion("state", [
  z.object({
    state: z.literal("available"),
    socket: z.string(),
    /** `Docker Engine`, `Podman Engine`, ... as the engine names itself. */
    engine: z.string(),
    version: z.string(),
    api_version: z.string(),
  }),
  z.object({ state: z.literal("unavailable"), socket: z.string(), reason: z.string() }),
]);
export type ContainerEngineStatus = z.infer<typeof ContainerEngineStatusSchema>;

export const ContainerImageSchema = z.object({
  id: z.string(),
  tags: z.array(z.string()),
  size_bytes: z.number(),
  created_at: z.number().nullable(),
});
export type ContainerImage = z.infer<typeof ContainerImageSchema>;

export const ImagePullParamsSchema = z.object({
  actor: ActorSchema,
  image: ImageReferenceSchema,
}).strict();
export const ImagePullIdSchema = z.string().regex(/^pull-[a-z0-9-]{1,64}$/);
/** A pull runs in the background; its progress is asked for with its id. */
export const ImagePullStatusSchema = z.object({
  pull_id: ImagePullIdSchema,
  image: z.string(),
  state: z.enum(["pulling", "done", "failed"]),
  started_at: z.number(),
  finished_at: z.number().nullable(),
  /** Per layer: the engine's last status, and bytes done of total where it says. */
  layers: z.array(z.object({
    id: z.string(),
    status: z.string(),
    current_bytes: z.number().nullable(),
    total_bytes: z.number().nullable(),
  })),
  /** The engine's last status line, or the reason it failed. */
  message: z.string(),
});
export type ImagePullStatus = z.infer<typeof ImagePullStatusSchema>;

export const ImageImportParamsSchema = z.object({
  actor: ActorSchema,
  /** A root-filesystem tarball in the node's image directory, by file name. */
  file: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/, {
    message: "expected a file name in the image directory",
  }),
  /** Reference to give the image, `name:tag`. */
  image: ImageReferenceSchema,
}).strict();
export const ImageDeleteParamsSchema = z.object({
  actor: ActorSchema,
  image: ImageNameOrIdSchema,
}).strict();

export const ContainerListSchema = z.array(ContainerSchema);
export const ContainerImageListSchema = z.array(ContainerImageSchema);
export const ImagePullStatusParamsSchema = z.object({ pull_id: ImagePullIdSchema }).strict();
export const ImageDeletedSchema = z.object({ deleted: z.string() });
