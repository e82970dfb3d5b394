/** A renter names a VM's login port or VNC port only inside the operator's `vm_port_range`. */
import assert from "node:assert/strict";
import { RpcError } from "../../../mod/mod.ts";
import { requireLoginPortInRange } from "../../../node_service/vm/modify_plan.ts";

Deno.test("a named login port outside vm_port_range is refused; inside, or none, passes", () => {
  const range = { first: 20000, last: 20999 };
  for (const port of [undefined, 20000, 20500, 20999]) requireLoginPortInRange(port, range);
  for (const port of [1, 22, 5900, 19999, 21000, 65535]) {
    assert.throws(
      () => requireLoginPortInRange(port, range),
      (error: unknown) =>
        error instanceof RpcError && error.code === "invalid_params" &&
        /outside this node's VM ports 20000-20999/.test(error.message),
    );
  }
});

Deno.test("a named VNC port is held to the same range, and says which port it is", () => {
  const range = { first: 20000, last: 20999 };
  requireLoginPortInRange(20001, range, "VNC");
  assert.throws(
    () => requireLoginPortInRange(5900, range, "VNC"),
    /VNC port 5900 is outside this node's VM ports 20000-20999/,
  );
});
