/**
 * The operator's endpoints under `/api/v1/operator/`: the node's state, its
 * event log (filtered, paged), every instance whoever rents it, and the
 * images the node offers. They act for the machine's owner, so they answer
 * only locally and only with the operator token (`../operator_auth.ts`).
 */
import { z } from "zod";
import {
  ActivePeerListSchema,
  ContainerImageListSchema,
  ContainerListSchema,
  EventListSchema,
  EventResultSchema,
  GlobalPeerListSchema,
  ImageDeletedSchema,
  ImageNameOrIdSchema,
  ImagePullIdSchema,
  ImagePullStatusSchema,
  ImageReferenceSchema,
  INSTANCE_STATES,
  type InstanceState,
  MachineConfigSchema,
  MachineRegistrationSchema,
  MAX_EVENT_PAGE,
  NetworkStatusSchema,
  NodeStatusSchema,
  RentPricesSchema,
  Sha256Schema,
  VmImageDeletedSchema,
  VmImageListSchema,
  VmImageNameSchema,
  VmImageSchema,
  VmListSchema,
} from "../../mod/mod.ts";
import type { ApiRoutes } from "../api_route.ts";
import type { AppDeps } from "../app_deps.ts";
import { ApiError } from "../errors.ts";
import { type OperatorAccess, requireOperator } from "../operator_auth.ts";
import { guardedRoutes } from "./guarded.ts";

/** The actor the event log records for what the operator does through these endpoints. */
export const OPERATOR_ACTOR = "operator";

const OPERATOR =
  "Local operator only: from the loopback interface, with `Authorization: Bearer <token>` (the token is in `<data_dir>/operator.token`).";
const ERRORS = ["unauthorized", "forbidden", "try_later", "timeout"] as const;

const StateCountsSchema = z.partialRecord(z.enum(INSTANCE_STATES), z.number().int());

export const OperatorStatusSchema = z.object({
  node: NodeStatusSchema,
  network: NetworkStatusSchema.nullable(),
  vms: StateCountsSchema,
  containers: StateCountsSchema,
  gpus_allocated: z.number().int(),
});

const Millis = z.coerce.number().int().min(0);
const EventQuery = z.object({
  action: z.string().regex(/^[a-z0-9_.]{1,64}$/, {
    message: "an action (vm.create) or a prefix ending in a dot (vm.)",
  }).optional(),
  actor: z.string().min(1).max(128).optional(),
  target: z.string().min(1).max(128).optional(),
  result: EventResultSchema.optional(),
  since: Millis.optional(),
  until: Millis.optional(),
  before_id: z.coerce.number().int().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(MAX_EVENT_PAGE).default(100),
});

const VmImageAddBody = z.object({
  name: VmImageNameSchema,
  /** An http(s) URL (its host must be in image_download_hosts), or a file the node may read. */
  url: z.url({ protocol: /^https?$/ }).max(4096).optional(),
  path: z.string().min(1).max(4096).startsWith("/").optional(),
  sha256: Sha256Schema.optional(),
}).refine((body) => (body.url === undefined) !== (body.path === undefined), {
  message: "give exactly one of url and path",
});

function countStates(
  instances: { state: InstanceState }[],
): Partial<Record<InstanceState, number>> {
  const counts: Partial<Record<InstanceState, number>> = {};
  for (const { state } of instances) counts[state] = (counts[state] ?? 0) + 1;
  return counts;
}

export function operatorRoutes(routes: ApiRoutes, deps: AppDeps, access: OperatorAccess): void {
  const addOperatorRoute = guardedRoutes(
    routes,
    { auth: "operator", description: OPERATOR },
    ({ context }) => requireOperator(context, access),
  );
  addOperatorRoute({
    method: "get",
    path: "/api/v1/operator/status",
    summary: "The node, its network worker, its instances by state and its GPUs in use",
    tags: ["operator"],
    response: OperatorStatusSchema,
    errors: ERRORS,
  }, async () => {
    const [node, network, vms, containers, allocations] = await Promise.all([
      deps.call("node.status", {}),
      // The rest of the status is still worth having while the network worker restarts.
      deps.call("network.status", {}).catch(() => null),
      deps.call("vm.list", {}),
      deps.call("container.list", {}),
      deps.call("gpu.allocations", {}),
    ]);
    return {
      node,
      network,
      vms: countStates(vms.vms),
      containers: countStates(containers),
      gpus_allocated: allocations.allocations.length,
    };
  });

  addOperatorRoute({
    method: "get",
    path: "/api/v1/operator/events",
    summary: "The event log, newest first: filter by action (or prefix `vm.`), actor, target, " +
      "result and time; page with `before_id`",
    tags: ["operator"],
    query: EventQuery,
    response: EventListSchema,
    errors: ERRORS,
  }, (_, { query }) => {
    if (query.since !== undefined && query.until !== undefined && query.since >= query.until) {
      throw new ApiError("invalid_params", "since must be earlier than until");
    }
    return deps.call("events.list", query);
  });

  addOperatorRoute({
    method: "post",
    path: "/api/v1/operator/registration",
    summary:
      "This machine's registration for its owner to sign: what it declares, with its node key's proof",
    description: `${OPERATOR} The answer's \`registration\` is the body of ` +
      "`POST /api/v1/ledger/machines`, which the owner (`owner`, this node's `owner_wallet`) signs " +
      "with its wallet within five minutes. The configuration is measured (GPUs, CPU, memory, the " +
      "VM volume's free space less the reserve); `config` replaces any field of it. Without " +
      "`prices`, `rent_price_per_hour` is the hourly price.",
    tags: ["operator"],
    body: z.object({
      prices: RentPricesSchema.optional(),
      config: MachineConfigSchema.partial().optional(),
    }),
    response: z.object({ owner: z.string(), registration: MachineRegistrationSchema }),
    errors: [...ERRORS, "invalid_params", "conflict"],
  }, (_, { body }) => {
    return deps.call("machine.registration", body);
  });

  addOperatorRoute({
    method: "get",
    path: "/api/v1/operator/peers",
    summary: "Connected neighbours and the address book",
    tags: ["operator"],
    response: z.object({ active: ActivePeerListSchema, global: GlobalPeerListSchema }),
    errors: ERRORS,
  }, async () => {
    const [active, global] = await Promise.all([
      deps.call("network.peers.active", {}),
      deps.call("network.peers.global", {}),
    ]);
    return { active, global };
  });

  addOperatorRoute({
    method: "get",
    path: "/api/v1/operator/instances",
    summary: "Every VM and container on this node, whoever rents it",
    tags: ["operator"],
    query: z.object({ include_deleted: z.enum(["true", "false"]).default("false") }),
    response: z.object({ vms: VmListSchema.shape.vms, containers: ContainerListSchema }),
    errors: ERRORS,
  }, async (_, { query }) => {
    const include_deleted = query.include_deleted === "true";
    const [vms, containers] = await Promise.all([
      deps.call("vm.list", { include_deleted }),
      deps.call("container.list", { include_deleted }),
    ]);
    return { vms: vms.vms, containers };
  });

  addOperatorRoute({
    method: "get",
    path: "/api/v1/operator/images",
    summary: "VM images (with progress while adding) and container images on this node",
    tags: ["operator", "images"],
    response: z.object({ vm: VmImageListSchema.shape.images, container: ContainerImageListSchema }),
    errors: ERRORS,
  }, async () => {
    const [vm, container] = await Promise.all([
      deps.call("vm_image.list", {}),
      // A node without a container engine still lists its VM images.
      deps.call("container_image.list", {}).catch(() => []),
    ]);
    return { vm: vm.images, container };
  });

  addOperatorRoute({
    method: "post",
    path: "/api/v1/operator/images/vm",
    summary: "Add a VM image from a URL or a local file; answers at once, the image reports " +
      "its progress until ready",
    tags: ["operator", "images"],
    body: VmImageAddBody,
    response: VmImageSchema,
    successStatus: 202,
    errors: [...ERRORS, "conflict"],
  }, (_, { body }) => {
    return deps.call("vm_image.add", {
      actor: OPERATOR_ACTOR,
      name: body.name,
      source: body.url !== undefined
        ? { kind: "url", url: body.url }
        : { kind: "path", path: body.path! },
      sha256: body.sha256,
    });
  });

  addOperatorRoute({
    method: "get",
    path: "/api/v1/operator/images/vm/:name",
    summary: "One VM image: state, progress while adding, the VMs using it",
    tags: ["operator", "images"],
    params: z.object({ name: VmImageNameSchema }),
    response: VmImageSchema,
    errors: [...ERRORS, "not_found"],
  }, async (_, { params }) => {
    const { images } = await deps.call("vm_image.list", {});
    const image = images.find((candidate) => candidate.name === params.name);
    if (!image) throw new ApiError("not_found", `no VM image ${params.name}`);
    return image;
  });

  addOperatorRoute({
    method: "delete",
    path: "/api/v1/operator/images/vm/:name",
    summary: "Delete a VM image no VM uses",
    tags: ["operator", "images"],
    params: z.object({ name: VmImageNameSchema }),
    response: VmImageDeletedSchema,
    errors: [...ERRORS, "not_found", "conflict"],
  }, (_, { params }) => {
    return deps.call("vm_image.delete", { actor: OPERATOR_ACTOR, name: params.name });
  });

  addOperatorRoute({
    method: "post",
    path: "/api/v1/operator/images/container/pull",
    summary: "Pull a container image; answers at once with the pull's id and progress",
    tags: ["operator", "images"],
    body: z.object({ image: ImageReferenceSchema }),
    response: ImagePullStatusSchema,
    successStatus: 202,
    errors: ERRORS,
  }, (_, { body }) => {
    return deps.call("container_image.pull", { actor: OPERATOR_ACTOR, image: body.image });
  });

  addOperatorRoute({
    method: "get",
    path: "/api/v1/operator/images/container/pulls/:pull_id",
    summary: "Progress of a container image pull",
    tags: ["operator", "images"],
    params: z.object({ pull_id: ImagePullIdSchema }),
    response: ImagePullStatusSchema,
    errors: [...ERRORS, "not_found"],
  }, (_, { params }) => {
    return deps.call("container_image.pull_status", { pull_id: params.pull_id });
  });

  addOperatorRoute({
    method: "post",
    path: "/api/v1/operator/images/container/delete",
    summary: "Delete a container image no container uses",
    tags: ["operator", "images"],
    body: z.object({ image: ImageNameOrIdSchema }),
    response: ImageDeletedSchema,
    errors: [...ERRORS, "not_found", "conflict"],
  }, (_, { body }) => {
    return deps.call("container_image.delete", { actor: OPERATOR_ACTOR, image: body.image });
  });
}
