/** What the tests of a modify's plan (node_service/vm/modify_plan.ts) share. */
import assert from "node:assert/strict";
import { ModifyRefused } from "../../../node_service/vm/modify_plan.ts";
import type { VmSpec } from "../../../node_service/vm/store.ts";

export const GIB = 2 ** 30;

/** A small Linux VM's record: 2 cores, 2 GiB, a 10 GiB disk, user-mode networking. */
export const SPEC: VmSpec = {
  uuid: "6f1c5a8e-2d4b-4c6f-9a1e-3b5d7f9a1c2e",
  cpu_cores: 2,
  memory_mib: 2048,
  disk_gib: 10,
  firmware: "bios",
  mac_address: "52:54:00:aa:bb:cc",
  network: { mode: "user", source: null },
  listen_address: "127.0.0.1",
  direct_boot: null,
};

/** No port held by another VM or by the host. */
export const NO_PORTS = { otherVms: new Set<number>(), host: new Set<`tcp:${number}`>() };

/** For `assert.throws`: a plan refused with `kind` and a message matching `message`. */
export function refused(kind: "invalid" | "conflict", message: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof ModifyRefused, String(error));
    assert.equal(error.kind, kind);
    assert.match(error.message, message);
    return true;
  };
}
