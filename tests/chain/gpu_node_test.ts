/**
 * A GPU node process (`deno task node`, its workers with their own narrow
 * permissions, the recorded nvidia-smi) with `verification_service=substrate`
 * against DBC's own runtime under chopsticks: it answers to the chain's
 * machine id, lets the renter whose order is being confirmed create, refuses
 * a wrong renter, and refuses the renter once the rent's end block is built.
 */
import assert from "node:assert/strict";
import type { KeyringPair } from "@polkadot/keyring/types";
import { DbcConnection, DbcRenter } from "../../node_service/chain/mod.ts";
import { scratchDir, waitFor } from "../helpers.ts";
import { devWallets } from "../wallets.ts";
import { type ChainNode, startChainNode } from "./chain_node.ts";
import { startChopsticks } from "./chopsticks.ts";
import { DBC, fund, HALF_HOUR_BLOCKS, makeMachineOnline, setRentSettings } from "./dbc_machine.ts";

const MACHINE_ID = "7a21c9d4".repeat(8);
/** The busybox image scripts/system/podman_test_image.sh imports. */
const TEST_IMAGE = Deno.env.get("DBC_TEST_IMAGE") ?? "localhost/dbc-test-busybox:latest";

Deno.test("a GPU node with verification_service=substrate follows the chain's orders", async () => {
  const { alice, bob, dave, eve } = await devWallets();
  const chain = await startChopsticks();
  const dir = await scratchDir("chain-gpu-node");
  const connection = new DbcConnection(chain.url, { timeoutMs: 30_000 });
  let node: ChainNode | undefined;
  try {
    await fund(chain, [alice.address, dave.address], 1_000_000n * DBC);
    await setRentSettings(chain, eve.address);
    await makeMachineOnline(chain, {
      machineId: MACHINE_ID,
      stash: dave.address,
      controller: dave.address,
      gpuNum: 2,
      calcPoint: 2_000,
      committee: [bob.address],
    });
    const renter = new DbcRenter(await connection.api(), alice, { immortal: true });
    const rent = await renter.rent({ machineId: MACHINE_ID, gpus: 1, blocks: HALF_HOUR_BLOCKS });

    node = await startChainNode({ chainUrl: chain.url, machineId: MACHINE_ID, dir });
    const gpu = node;

    /** A VM create on this node signed by `who`: refused for the rental, or past that check. */
    const create = (who: KeyringPair, gpus = 0) =>
      gpu.signed(who, "POST", `/api/v1/tasks/start?node_id=${gpu.nodeId}`, {
        image_name: "no-such-image",
        cpu_cores: 1,
        mem_size: 1,
        gpu_count: gpus,
      });

    // Bob rents nothing here (asked once the node service has started: 503 until then).
    const wrong = await waitFor("the node service", async () => {
      const answer = await create(bob);
      return answer.status === 503 ? undefined : answer;
    }, 60_000);
    assert.equal(wrong.status, 403, JSON.stringify(wrong.body));
    assert.match(wrong.body.error_message, /does not rent machine .*\(substrate: none\)/);
    // Alice's order waits for her confirm: she may create (the made-up image is what stops it).
    const waiting = await create(alice);
    assert.notEqual(waiting.status, 403, JSON.stringify(waiting.body));
    assert.match(waiting.body.error_message, /no-such-image/);
    // Her order holds one GPU of the two (index 0): two are refused.
    const tooMany = await create(alice, 2);
    assert.equal(tooMany.status, 403, JSON.stringify(tooMany.body));
    assert.match(tooMany.body.error_message, /holds 1 GPU\(s\) \(index 0\); 2 asked for/);

    // Alice's container runs while her order does.
    const signed = (method: string, path: string, body?: unknown) =>
      gpu.signed(alice, method, path, body);
    const created = await signed("POST", `/api/v1/containers/create?node_id=${gpu.nodeId}`, {
      image: TEST_IMAGE,
      command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"],
    });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    const containerId = created.body.data.task_id as string;
    const stateIs = (wanted: string) => async () => {
      const detail = await signed(
        "GET",
        `/api/v1/containers/${containerId}?node_id=${gpu.nodeId}`,
      );
      return detail.body.data?.state === wanted ? detail.body.data : undefined;
    };
    await waitFor("the container to run", stateIs("running"), 60_000);

    // The rent's end block is built: the chain ended it, the node refuses Alice, and its lease
    // loop stops her container and keeps it (the 10-day retention).
    await chain.buildBlockAt(rent.order!.rentEnd);
    const ended = await create(alice);
    assert.equal(ended.status, 403, JSON.stringify(ended.body));
    assert.match(ended.body.error_message, /\(substrate: (ended|none)\)/);
    await waitFor("the lease loop to stop the container", stateIs("expired"), 60_000);

    // Alice rents again on the chain: the loop brings the container back.
    await renter.rent({ machineId: MACHINE_ID, gpus: 1, blocks: HALF_HOUR_BLOCKS });
    await waitFor("the lease loop to start the container again", stateIs("running"), 60_000);
    const deleted = await signed(
      "POST",
      `/api/v1/containers/${containerId}/delete?node_id=${gpu.nodeId}`,
      {},
    );
    assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
  } finally {
    await node?.stop();
    await connection.close();
    await chain.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => undefined);
  }
});
