/**
 * `/api/v1/tasks/modify/{task_id}` with the original's port fields, in
 * process: `new_vnc_port`, `new_custom_port` (the create's `custom_port`
 * forms) and the login port (`new_ssh_port` on Linux, `new_rdp_port` on
 * Windows) become `vm.modify`'s numbers; the wrong one for the VM's OS and
 * bad text are refused with errcode 1 before any call. The native route's
 * `vnc_port`, `custom_ports` and `rdp_port` are checked alike.
 */
import assert from "node:assert/strict";
import { devWallets } from "../wallets.ts";
import { gpuNode, LINUX_CREATE, send } from "./compat_fixture.ts";

Deno.test("modify: new_vnc_port, new_custom_port and the login port become vm.modify's", async () => {
  const { alice } = await devWallets();
  const node = await gpuNode({ renters: [alice.address] });
  try {
    const app = node.makeApp();
    const post = (path: string, additional: Record<string, unknown>) =>
      send(app, path, node.signedBody(alice, additional));
    const made = await post("/api/v1/tasks/start", LINUX_CREATE);
    assert.equal(made.body.errcode, 0, JSON.stringify(made.body));
    const taskId = made.body.message.task_id as string;
    await post(`/api/v1/tasks/stop/${taskId}`, {});

    for (
      const [additional, message] of [
        [{ new_vnc_port: "5800" }, /new_vnc_port is invalid/],
        [{ new_vnc_port: "59x" }, /new_vnc_port is not digit/],
        [{ new_custom_port: ["sctp,80"] }, /custom_port "sctp,80" is invalid/],
        [{ new_rdp_port: "3390" }, /new_rdp_port is not for a linux VM/],
        [{ new_gpu_count: "1" }, /new_gpu_count cannot be changed/],
        [{ new_custom_port: [] }, /nothing to modify/],
      ] as const
    ) {
      const bad = await post(`/api/v1/tasks/modify/${taskId}`, additional);
      assert.equal(bad.body.errcode, 1, JSON.stringify(bad.body));
      assert.match(bad.body.message, message);
    }
    assert.deepEqual(node.callsOf("vm.modify"), []);

    const changed = await post(`/api/v1/tasks/modify/${taskId}`, {
      new_ssh_port: "30022",
      new_vnc_port: "5911",
      new_custom_port: ["tcp,30080:80", "udp,30053-30054:53-54"],
      new_rdp_port: "",
    });
    assert.deepEqual(changed.body, { errcode: 0, message: "ok" });
    const [call] = node.callsOf("vm.modify");
    assert.equal(call?.params.login_port, 30022);
    assert.equal(call?.params.vnc_port, 5911);
    assert.deepEqual(call?.params.custom_ports, [
      { protocol: "tcp", host_port: 30080, guest_port: 80 },
      { protocol: "udp", host_port: 30053, guest_port: 53 },
      { protocol: "udp", host_port: 30054, guest_port: 54 },
    ]);
  } finally {
    await node.close();
  }
});
