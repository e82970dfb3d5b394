/** What several parts of the VM service share that needs none of its state. */
import { RpcError } from "../../mod/mod.ts";
import { DomainSpecError, HypervisorError } from "./libvirt/mod.ts";
import { GpuAllocationError } from "../gpu/mod.ts";
import { ImageError } from "./images/mod.ts";
import { ModifyRefused } from "./modify_plan.ts";

export const GIB = 2 ** 30;

export function errorText(error: unknown): string {
  return (error as Error)?.message ?? String(error);
}

/** The typed error a caller on the other side of a worker boundary gets. */
export function toRpcError(error: unknown): RpcError {
  if (error instanceof RpcError) return error;
  if (error instanceof HypervisorError) {
    const code = ({
      unavailable: "unavailable",
      not_found: "not_found",
      conflict: "conflict",
      invalid: "invalid_params",
      timeout: "timeout",
      failed: "internal",
    } as const)[error.kind];
    return new RpcError(code, error.message);
  }
  if (error instanceof ImageError || error instanceof GpuAllocationError) {
    const code = ({
      not_found: "not_found",
      conflict: "conflict",
      invalid: "invalid_params",
      failed: "internal",
    } as const)[error.kind];
    return new RpcError(code, error.message);
  }
  if (error instanceof DomainSpecError) return new RpcError("invalid_params", error.message);
  if (error instanceof ModifyRefused) {
    return new RpcError(error.kind === "invalid" ? "invalid_params" : "conflict", error.message);
  }
  if (error instanceof Error && /UNIQUE constraint failed: vms\.login_port/.test(error.message)) {
    return new RpcError("conflict", "the login port is taken by another VM");
  }
  return new RpcError("internal", errorText(error));
}
