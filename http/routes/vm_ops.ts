/**
 * The VM operations beside the lifecycle in instances.ts, on the native
 * API: shutdown (ACPI only) and poweroff (hard) as actions of their own, a
 * running guest's new password, and data disks. The same typed calls serve
 * the original dialect (http/compat/tasks.ts, http/compat/disks.ts).
 */
import { z } from "zod";
import {
  InstanceIdSchema,
  VM_OPS_LIMITS,
  VmDiskListSchema,
  VmDiskNameSchema,
  VmPasswordSchema,
  VmSchema,
  VmUserNameSchema,
} from "../../mod/mod.ts";
import type { ApiRoutes } from "../api_route.ts";
import type { WalletAuthenticator } from "../auth.ts";
import type { InstanceRouteDeps } from "./instances.ts";
import { NodeQuery, TargetBody } from "./common.ts";
import { ownedRoutes, signersVm } from "./owned.ts";

const SIGNED = "Wallet-signed, or a delegated session of the renter (`X-DBC-Session`); the " +
  "target GPU node is `node_id` in the query or `peer_nodes_list: [node_id]` in the body.";
/** Actions wait for libvirt (a poweroff) or qemu-img (a disk on a large volume). */
const OPERATION_TIMEOUT_MS = 5 * 60_000;
const SizeSchema = z.number().int().min(1).max(VM_OPS_LIMITS.maxDataDiskGib);

export function vmOperationRoutes(
  routes: ApiRoutes,
  deps: InstanceRouteDeps,
  auth: WalletAuthenticator,
): void {
  const IdParams = z.object({ task_id: InstanceIdSchema });
  const DiskParams = IdParams.extend({ disk: VmDiskNameSchema });
  const addVmRoute = ownedRoutes(routes, auth, "task_id", signersVm(deps));
  const options = { timeoutMs: OPERATION_TIMEOUT_MS };

  for (const action of ["shutdown", "poweroff"] as const) {
    addVmRoute({
      method: "post",
      path: `/api/v1/tasks/:task_id/${action}`,
      summary: action === "shutdown"
        ? "Ask one of the signer's VMs to power off (ACPI), never forcing it"
        : "Power one of the signer's VMs off at once (like pulling the plug)",
      description: action === "shutdown"
        ? `${SIGNED} The node answers once the guest was asked, as the original does (the ` +
          "state is still `running`); whether it went off is recorded in the node's event log " +
          "(`vm.shutdown_outcome`), and the VM's state turns `stopped` when it did."
        : SIGNED,
      tags: ["vms"],
      params: IdParams,
      body: TargetBody,
      response: VmSchema,
    }, async ({ actor, id }) => {
      return await deps.call("vm.stop", {
        actor,
        id,
        force: action === "poweroff",
        acpi_only: action === "shutdown",
      }, options);
    });
  }

  addVmRoute({
    method: "post",
    path: "/api/v1/tasks/:task_id/passwd",
    summary: "Change the login password of one of the signer's running VMs",
    description: `${SIGNED} Through the QEMU guest agent in the guest (503 when it runs none); ` +
      "`username` is the node's login user when absent.",
    tags: ["vms"],
    params: IdParams,
    body: TargetBody.extend({
      username: VmUserNameSchema.optional(),
      password: VmPasswordSchema,
    }),
    response: VmSchema,
  }, async ({ actor, id }, { body }) => {
    return await deps.call("vm.passwd", {
      actor,
      id,
      user: body.username,
      password: body.password,
    }, options);
  });

  addVmRoute({
    method: "get",
    path: "/api/v1/tasks/:task_id/disks",
    summary: "The disks of one of the signer's VMs, the system disk first",
    description: SIGNED,
    tags: ["vms"],
    params: IdParams,
    query: NodeQuery,
    response: VmDiskListSchema,
  }, async ({ id }) => {
    return await deps.call("vm.disk_list", { id });
  });

  addVmRoute({
    method: "post",
    path: "/api/v1/tasks/:task_id/disks/add",
    summary: "Add an empty data disk (`size` GiB) to one of the signer's VMs",
    description: `${SIGNED} Stopped or running: a running Linux guest gets it plugged in at ` +
      "once; a running Windows guest (SATA disks) is 409, stop it first.",
    tags: ["vms"],
    params: IdParams,
    body: TargetBody.extend({ size: SizeSchema }),
    response: VmDiskListSchema,
  }, async ({ actor, id }, { body }) => {
    return await deps.call("vm.disk_add", { actor, id, size_gib: body.size }, options);
  });

  addVmRoute({
    method: "post",
    path: "/api/v1/tasks/:task_id/disks/:disk/resize",
    summary: "Grow a disk of one of the signer's VMs to `size` GiB (never shrunk)",
    description: `${SIGNED} Stopped or running (a running Linux guest sees the new size at ` +
      "once; a running Windows guest is 409); a smaller size is 400.",
    tags: ["vms"],
    params: DiskParams,
    body: TargetBody.extend({ size: SizeSchema }),
    response: VmDiskListSchema,
  }, async ({ actor, id }, { params, body }) => {
    return await deps.call("vm.disk_resize", {
      actor,
      id,
      disk: params.disk,
      size_gib: body.size,
    }, options);
  });

  addVmRoute({
    method: "post",
    path: "/api/v1/tasks/:task_id/disks/:disk/delete",
    summary: "Detach and delete a data disk of one of the signer's VMs",
    description: `${SIGNED} Stopped or running (unplugged from a running Linux guest; a ` +
      "running Windows guest is 409); the system disk stays.",
    tags: ["vms"],
    params: DiskParams,
    body: TargetBody,
    response: VmDiskListSchema,
  }, async ({ actor, id }, { params }) => {
    return await deps.call("vm.disk_delete", { actor, id, disk: params.disk }, options);
  });
}
