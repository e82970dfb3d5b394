/**
 * Validators' check VMs (`/api/v1/validation/checks`), answered by the GPU
 * node being validated; a client-end forwards them there (`dispatch.ts`).
 * Wallet-signed by the validator, who rents nothing here: the GPU node asks
 * the ledger whether the signer holds an order for it in this round and is in
 * one of its slots, and sizes the VM as the owner declared. The validator
 * chooses the image; the guest's facts come back in the check's detail. A
 * validator sees and touches only its own checks (anyone else's answer 404).
 */
import { z } from "zod";
import {
  CheckListSchema,
  CheckVmDetailSchema,
  CheckVmSchema,
  DirectBootSchema,
  InstanceIdSchema,
  VmImageNameSchema,
} from "../../mod/mod.ts";
import type { ApiRoutes } from "../api_route.ts";
import type { WalletAuthenticator } from "../auth.ts";
import type { InstanceRouteDeps } from "./instances.ts";
import { NodeQuery, SIGNED_ROUTE_ERRORS, TargetBody, TargetFields as Target } from "./common.ts";

const SIGNED = "Wallet-signed by the validator (see the ledger API; a session cannot stand in). " +
  "The GPU node is `node_id` in the query or `peer_nodes_list: [node_id]` in the body.";
/** Making a VM with a large disk or GPUs may take a while. */
const CHECK_CREATE_TIMEOUT_MS = 15 * 60_000;
const DELETE_TIMEOUT_MS = 5 * 60_000;

export const CheckCreatedSchema = z.object({
  check: CheckVmSchema,
  operation_id: z.string(),
});

export function validationRoutes(
  routes: ApiRoutes,
  deps: InstanceRouteDeps,
  auth: WalletAuthenticator,
): void {
  const IdParams = z.object({ check_id: InstanceIdSchema });

  routes.add({
    method: "post",
    path: "/api/v1/validation/checks",
    summary: "Create a check VM on the machine being validated (answers at once; follow the " +
      "operation)",
    auth: "wallet",
    description: `${SIGNED} Only a validator that holds an order for this machine in the ` +
      "ledger's current round and is inside one of its time slots (403 otherwise), has not " +
      "reported, and has no live check VM of this round here (409 otherwise). The VM has the " +
      "CPU cores, memory, disk and all the GPUs the owner declared; a script on its seed disk " +
      "prints what the guest sees to its console, read back by `GET .../checks/{id}`. The node " +
      "deletes it when the slot ends. A node that cannot make it that big fails the operation.",
    tags: ["validation"],
    body: z.object({
      ...Target,
      image_name: VmImageNameSchema,
      direct_boot: DirectBootSchema.optional(),
    }),
    response: CheckCreatedSchema,
    successStatus: 202,
    errors: SIGNED_ROUTE_ERRORS,
  }, async ({ body, rawBody, context }) => {
    const who = await auth.authorise(context, rawBody);
    const check = await deps.call("validation.check_create", {
      validator: who.account,
      image: body.image_name,
      direct_boot: body.direct_boot,
    });
    const operation = deps.operations.start(
      "validation.check_create",
      check.check_id,
      () =>
        deps.call(
          "validation.check_wait",
          { validator: who.account, check_id: check.check_id },
          { timeoutMs: CHECK_CREATE_TIMEOUT_MS },
        ),
    );
    return { check, operation_id: operation.operation_id };
  });

  routes.add({
    method: "get",
    path: "/api/v1/validation/checks",
    summary: "The signer's check VMs on this machine, newest first",
    auth: "wallet",
    description: SIGNED,
    tags: ["validation"],
    query: NodeQuery,
    response: CheckListSchema,
    errors: SIGNED_ROUTE_ERRORS,
  }, async ({ context }) => {
    const who = await auth.authorise(context, "");
    return await deps.call("validation.check_list", { validator: who.account });
  });

  routes.add({
    method: "get",
    path: "/api/v1/validation/checks/:check_id",
    summary: "One of the signer's check VMs, with what its guest reported (`booting` until it " +
      "has)",
    auth: "wallet",
    description: SIGNED,
    tags: ["validation"],
    params: IdParams,
    query: NodeQuery,
    response: CheckVmDetailSchema,
    errors: SIGNED_ROUTE_ERRORS,
  }, async ({ params, context }) => {
    const who = await auth.authorise(context, "");
    return await deps.call("validation.check_get", {
      validator: who.account,
      check_id: params.check_id,
    });
  });

  routes.add({
    method: "post",
    path: "/api/v1/validation/checks/:check_id/delete",
    summary: "Delete one of the signer's check VMs",
    auth: "wallet",
    description: SIGNED,
    tags: ["validation"],
    params: IdParams,
    body: TargetBody,
    response: CheckVmSchema,
    errors: SIGNED_ROUTE_ERRORS,
  }, async ({ params, rawBody, context }) => {
    const who = await auth.authorise(context, rawBody);
    return await deps.call("validation.check_delete", {
      validator: who.account,
      check_id: params.check_id,
    }, { timeoutMs: DELETE_TIMEOUT_MS });
  });
}
