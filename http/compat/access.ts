/**
 * Who may touch what, in the original's words, on the native rules: a renter
 * sees and operates only the VMs it owns (anyone else's, or a missing one, is
 * "task not exist", errcode 1), and only the machine's current renter creates
 * (http/routes/renter.ts `requireRental`; otherwise the original's -3
 * "check authority failed: wallet not rented").
 */
import { RpcError, type VmDetail } from "../../mod/mod.ts";
import { ApiError } from "../errors.ts";
import { requireRental } from "../routes/renter.ts";
import { denied, refused } from "./envelope.ts";
import type { EndpointInput } from "./endpoint.ts";

/** The VM `id` if `account` owns it; otherwise the original's "task not exist" (errcode 1). */
export async function ownVm(input: EndpointInput, id: string, account: string): Promise<VmDetail> {
  try {
    const vm = await input.deps.call("vm.get", { id });
    if (vm.owner === account && vm.state !== "deleted") return vm;
  } catch (error) {
    if (!(error instanceof RpcError && error.code === "not_found")) throw error;
  }
  throw refused(TASK_NOT_EXIST);
}

export const TASK_NOT_EXIST = "task not exist";

/** Only the machine's renter (or its session) creates, and makes sessions. */
export async function requireRenting(input: EndpointInput, account: string): Promise<void> {
  try {
    await requireRental(input.deps, account);
  } catch (error) {
    if (error instanceof ApiError && error.kind === "forbidden") {
      throw denied(`check authority failed: wallet not rented (${error.message})`);
    }
    throw error;
  }
}
