/**
 * A running guest's login password, changed through the QEMU guest agent
 * (`virsh set-user-password`, which runs `chpasswd` in the guest): the way
 * the original node changed it, and the only one that reaches a running
 * guest without a reboot (cloud-init reads its seed at first boot only). The
 * guest must run `qemu-guest-agent` (Debian's and Ubuntu's cloud images ship
 * it; Windows needs the virtio-win guest agent); every domain has the
 * agent's channel. An agent not connected yet (a guest just booted) is
 * tried again for up to {@link PASSWD_AGENT_WAIT_MS}; a guest without one
 * is then refused as `unavailable` with that said. The new password replaces the one the VM's detail shows
 * when it is the node's login user's.
 */
import { RpcError, type Vm } from "../../mod/mod.ts";
import { PASSWD_AGENT_RETRY_MS, PASSWD_AGENT_WAIT_MS } from "./constants.ts";
import { HypervisorError } from "./libvirt/mod.ts";
import type { VmCore } from "./vm_core.ts";

/** libvirt's words when the guest has no agent listening (none installed, or not started yet). */
const AGENT_ABSENT = /agent is not (connected|responding)|Guest agent is not|agent not available/i;
/** The agent ran chpasswd in the guest and it failed: an unknown user, a password it refused. */
const CHPASSWD_FAILED = /failed to set user password/i;

export async function passwd(
  core: VmCore,
  actor: string,
  id: string,
  user: string | undefined,
  password: string,
): Promise<Vm> {
  return await core.queued(id, () =>
    core.logged(actor, "vm.passwd", id, async (detail) => {
      const record = await core.freshRecord(id);
      if (record.state !== "running") {
        throw new RpcError(
          "conflict",
          `cannot change the password of VM ${id}: it is ${record.state}; the guest agent ` +
            "changes it in the running guest, so start it first",
        );
      }
      const login = record.spec.guest_login;
      const name = user ?? login?.user ?? core.options.loginUser;
      detail.user = name;
      const deadline = core.options.now() + PASSWD_AGENT_WAIT_MS;
      for (let tries = 1;; tries++) {
        try {
          await core.options.hypervisor.setUserPassword(record.domain, name, password);
          break;
        } catch (error) {
          if (!(error instanceof HypervisorError && AGENT_ABSENT.test(error.message))) {
            throw passwdError(id, name, error);
          }
          if (core.options.now() + PASSWD_AGENT_RETRY_MS > deadline) {
            throw new RpcError(
              "unavailable",
              `cannot change the password of VM ${id}: its guest agent did not answer in ` +
                `${PASSWD_AGENT_WAIT_MS / 1000} s (${tries} tries; does the guest run ` +
                `qemu-guest-agent?): ${error.message}`,
            );
          }
          detail.agent_retries = tries;
          await new Promise((resolve) => setTimeout(resolve, PASSWD_AGENT_RETRY_MS));
        }
      }
      if (!login || login.user !== name) return core.view(record);
      const spec = { ...record.spec, guest_login: { ...login, password } };
      return core.view(core.store.modify(id, spec, record.loginPort));
    }, { user: user ?? null }));
}

/** What the renter hears of a failed password change other than an agent not connected. */
function passwdError(id: string, name: string, error: unknown): unknown {
  if (!(error instanceof HypervisorError)) return error;
  if (CHPASSWD_FAILED.test(error.message)) {
    return new RpcError(
      "invalid_params",
      `the guest of VM ${id} refused the new password of ${name} (no such user?): ` +
        error.message,
    );
  }
  return error;
}
