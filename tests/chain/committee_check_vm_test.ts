/**
 * The chain's committee verifies a machine through the GPU node itself: a GPU
 * node process with `verification_service=substrate` follows DBC's runtime
 * under chopsticks, on which its machine is `CommitteeVerifying` with three
 * booked members. The member whose slot it is gets a check VM through the
 * wallet-signed API (a real libvirt domain, the test guest booted directly,
 * sized as the chain declares: nothing yet, so the smallest, no GPU); a
 * member whose slot is later, one that already submitted its hash, and an
 * account the chain did not book are refused with the reason; the check is
 * shown to its validator only.
 */
import assert from "node:assert/strict";
import type { KeyringPair } from "@polkadot/keyring/types";
import { scratchDir, waitFor } from "../helpers.ts";
import {
  removeDomains,
  requireLibvirt,
  testGuest,
  virsh,
} from "../node_service/vm/libvirt_fixture.ts";
import { devWallets } from "../wallets.ts";
import { type ChainNode, type Json, startChainNode } from "./chain_node.ts";
import { startChopsticks } from "./chopsticks.ts";
import { bookCommittee, DBC, fund, makeMachineOnline, setChainClock } from "./dbc_machine.ts";

const MACHINE_ID = "c4ec4b17".repeat(8);
/** The size the node gives a check VM while the chain declares no hardware (chain/committee.ts). */
const UNDECLARED_SIZE = { cpu_cores: 1, memory_gib: 1, disk_gib: 1, gpu_count: 0 };
/** Under TCG, on a busy machine, the domain may take a while to define and start. */
const MAKE_TIMEOUT_MS = 60_000;
/** How much of the node's log a failure shows. */
const LOG_TAIL_CHARS = 6_000;

Deno.test({
  name: "a booked committee member makes the check VM on a GPU node following the chain",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await requireLibvirt();
    const guest = await testGuest();
    const { alice, bob, charlie, dave, eve } = await devWallets();
    const chain = await startChopsticks();
    const dir = await scratchDir("chain-committee-vm");
    let node: ChainNode | undefined;
    let failed = false;
    try {
      await fund(chain, [alice.address], 1_000n * DBC);
      await makeMachineOnline(chain, {
        machineId: MACHINE_ID,
        stash: alice.address,
        controller: alice.address,
        gpuNum: 2,
        calcPoint: 2_000,
        committee: [bob, charlie, dave].map((member) => member.address),
        status: "CommitteeVerifying",
      });
      // Booked at the head: Bob's first slot opens there, Charlie's 4 hours on; Dave has hashed.
      await bookCommittee(chain, MACHINE_ID, [
        { account: bob.address },
        { account: charlie.address },
        { account: dave.address, status: "Hashed" },
      ], await chain.head());
      await setChainClock(chain, Date.now());

      node = await startChainNode({ chainUrl: chain.url, machineId: MACHINE_ID, dir });
      const gpu = node;
      // The operator offers the test guest (a blank disk, a kernel and its busybox initrd).
      for (
        const [name, path] of [
          ["base.qcow2", guest.baseDisk],
          ["vmlinuz", guest.kernel],
          ["initrd.img", guest.initrd],
        ] as const
      ) {
        // The node service may read only its own image directory: the file goes there first.
        await Deno.copyFile(path, `${gpu.dataDir}/images/${name}`);
        const added = await gpu.operator("POST", "images/vm", {
          name,
          path: `${gpu.dataDir}/images/${name}`,
        });
        assert.equal(added.status, 202, JSON.stringify(added.body));
      }
      await waitFor("the VM images to be ready", async () => {
        const images = (await gpu.operator("GET", "images")).body.data.vm as Json[];
        return images.length === 3 && images.every((image) => image.state === "ready")
          ? true
          : undefined;
      }, 60_000);

      const checks = `/api/v1/validation/checks?node_id=${gpu.nodeId}`;
      const body = {
        image_name: "base.qcow2",
        direct_boot: {
          kernel_image: "vmlinuz",
          initrd_image: "initrd.img",
          cmdline: guest.cmdline,
        },
      };
      const create = (who: KeyringPair) => gpu.signed(who, "POST", checks, body);

      // Charlie is booked, but his first slot opens in 4 hours.
      const later = await create(charlie);
      assert.equal(later.status, 403, JSON.stringify(later.body));
      assert.match(later.body.error_message, /not within one of .* time slots .*next opens at/);
      // Dave submitted his hash: he has reported in this round.
      const hashed = await create(dave);
      assert.equal(hashed.status, 409, JSON.stringify(hashed.body));
      assert.match(hashed.body.error_message, /already reported on machine/);
      // Eve is not of the committee the chain booked.
      const outsider = await create(eve);
      assert.equal(outsider.status, 403, JSON.stringify(outsider.body));
      assert.match(outsider.body.error_message, /holds no order for machine/);
      // Nothing of theirs was made.
      assert.deepEqual(await domains(gpu.domainPrefix), []);

      // Bob's slot is open: the check VM is made, of the size the chain declares.
      const created = await create(bob);
      assert.equal(created.status, 202, JSON.stringify(created.body));
      const check = created.body.data.check;
      assert.equal(check.validator, bob.address);
      assert.equal(check.machine_id, MACHINE_ID);
      assert.deepEqual(check.size, UNDECLARED_SIZE);
      const operationPath =
        `/api/v1/operations/${created.body.data.operation_id}?node_id=${gpu.nodeId}`;
      const operation = await waitFor("the check VM's operation to end", async () => {
        const answer = await gpu.signed(bob, "GET", operationPath);
        const state = answer.body.data?.state;
        return state === "done" || state === "failed" ? answer.body.data : undefined;
      }, MAKE_TIMEOUT_MS);
      assert.equal(operation.state, "done", JSON.stringify(operation));
      const made = await domains(gpu.domainPrefix);
      assert.equal(made.length, 1, `domains: ${made.join(", ")}`);
      assert.match(made[0]!, new RegExp(check.check_id));
      // One live check VM per member and round.
      const again = await create(bob);
      assert.equal(again.status, 409, JSON.stringify(again.body));
      assert.match(again.body.error_message, /already has check VM/);

      // Bob sees it, live; Charlie, also booked, does not.
      const detailPath = `/api/v1/validation/checks/${check.check_id}?node_id=${gpu.nodeId}`;
      const detail = await gpu.signed(bob, "GET", detailPath);
      assert.equal(detail.status, 200, JSON.stringify(detail.body));
      assert.equal(detail.body.data.check.state, "live");
      assert.equal(detail.body.data.check.vm_state, "running");
      // What its guest saw is what the chain declares: one core, 1 GiB, no GPU.
      const facts = await waitFor("the guest to report", async () => {
        const answer = await gpu.signed(bob, "GET", detailPath);
        return answer.body.data?.facts?.state === "ready" ? answer.body.data.facts : undefined;
      }, MAKE_TIMEOUT_MS);
      assert.equal(facts.observed.cpu_cores, UNDECLARED_SIZE.cpu_cores);
      assert.equal(facts.observed.memory_gib, UNDECLARED_SIZE.memory_gib);
      assert.equal(facts.observed.disk_gib, UNDECLARED_SIZE.disk_gib);
      assert.deepEqual(facts.observed.gpus, []);
      const own = await gpu.signed(bob, "GET", checks);
      assert.deepEqual(own.body.data.checks.map((one: Json) => one.check_id), [check.check_id]);
      const other = await gpu.signed(charlie, "GET", detailPath);
      assert.equal(other.status, 404, JSON.stringify(other.body));
      const list = await gpu.signed(charlie, "GET", checks);
      assert.deepEqual(list.body.data.checks, []);

      // Bob deletes it: the domain goes.
      const deleted = await gpu.signed(
        bob,
        "POST",
        `/api/v1/validation/checks/${check.check_id}/delete?node_id=${gpu.nodeId}`,
        {},
      );
      assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
      assert.equal(deleted.body.data.state, "deleted");
      assert.deepEqual(await domains(gpu.domainPrefix), []);
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      const log = await node?.stop();
      if (failed && log) console.error(`the GPU node's log:\n${log.slice(-LOG_TAIL_CHARS)}`);
      if (node) await removeDomains(node.domainPrefix);
      await chain.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => undefined);
    }
  },
});

/** The libvirt domains whose names start with `prefix`. */
async function domains(prefix: string): Promise<string[]> {
  const listed = await virsh("list", "--all", "--name");
  return listed.stdout.split("\n").map((line) => line.trim())
    .filter((name) => name.startsWith(prefix));
}
