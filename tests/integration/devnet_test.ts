/**
 * The renter's whole workflow on a local network of real node processes (the
 * devnet's layout: a seed with the embedded ledger, GPU nodes, two
 * client-ends), through the client-ends' HTTP API and the CLI only, with keys
 * from the real wallet library: the owner registers the machine with the CLI
 * (its node key signs through the operator API), three validators run
 * `validate` (check VMs on real libvirt, in their slots), a renter without
 * funds is refused, the admin funds one who rents it; then create a VM
 * (real libvirt) and a container on it and operate them through both
 * client-ends, carry on when one client-end stops, and get a clear error for
 * a node that has left. The GPU node's operator adds the VM images through
 * the operator endpoints, with the token from the node's data directory.
 */
import assert from "node:assert/strict";
import type { KeyringPair } from "@polkadot/keyring/types";
import { devnetLayout, type DevnetNode } from "../../scripts/devnet.ts";
import { scratchDir, waitFor } from "../helpers.ts";
import {
  removeDomains,
  requireLibvirt,
  testGuest,
  testPrefix,
  virsh,
} from "../node_service/vm/libvirt_fixture.ts";
import { devWallets, walletHeaders } from "../wallets.ts";
import {
  api,
  type Json,
  ok,
  operator,
  type Running,
  startNode as startDevnetNode,
  stop,
} from "./devnet_nodes.ts";
import { runCli } from "../../scripts/cli/main.ts";

const TEST_IMAGE = "localhost/dbc-test-busybox:latest";
/**
 * A verification round of 9 slots of 20 s: time for a check VM to boot under TCG inside a slot,
 * and the third validator's first slot opens 40 s into the round.
 */
const VERIFICATION_WINDOW_S = 180;
/** What /proc/cpuinfo says inside a guest of QEMU's TCG (the domain type these tests use). */
const TCG_CPU_MODEL = "QEMU Virtual CPU version 2.5+";

/** Progress on stderr, so a slow or stuck run shows where it is. */
const step = (what: string) => console.error(`[devnet test ${new Date().toISOString()}] ${what}`);

/** The devnet's nodes, with this test's verification round. */
const startNode = (node: DevnetNode, seedP2pPort: number, seedId?: string): Promise<Running> =>
  startDevnetNode(node, seedP2pPort, seedId, {
    DBC_LEDGER_VERIFICATION_WINDOW_S: String(VERIFICATION_WINDOW_S),
  });

/** `deno task cli` in this process, against real nodes: exit status, output lines, and all text. */
async function cli(args: string[], env: Record<string, string>) {
  const out: string[] = [];
  const err: string[] = [];
  const status = await runCli(args, {
    env: (name) => env[name],
    out: (text) => out.push(text),
    err: (text) => err.push(text),
  });
  return { status, out, err, text: [...out, ...err].join("\n") };
}

/** The libvirt domains named with `prefix`. */
async function domainsOf(prefix: string): Promise<string[]> {
  const names = (await virsh("list", "--all", "--name")).stdout;
  return names.split("\n").map((name) => name.trim()).filter((name) => name.startsWith(prefix));
}

/** Reads server-sent events until the operation ends; returns the states seen. */
async function followOperation(
  node: DevnetNode,
  operationId: string,
  target: string,
  signer: KeyringPair,
): Promise<string[]> {
  // Following another node's operation takes the renter's signature, like any renter request.
  const path = `/api/v1/operations/${operationId}/events?node_id=${target}`;
  const response = await fetch(`http://127.0.0.1:${node.httpPort}${path}`, {
    headers: walletHeaders(signer, { method: "GET", path, timestamp: Date.now() }),
  });
  assert.equal(response.headers.get("content-type")?.split(";")[0], "text/event-stream");
  const states: string[] = [];
  const text = await response.text(); // The stream ends with the operation.
  for (const line of text.split("\n")) {
    if (line.startsWith("event: ")) states.push(line.slice("event: ".length));
  }
  return states;
}

Deno.test({
  name:
    "devnet: rent a machine, create and operate a VM and a container through two client-ends, survive one leaving",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await requireLibvirt();
    const guest = await testGuest();
    const dir = await scratchDir("devnet");
    // QEMU runs as libvirt's user and must reach the VM disks inside the data directories.
    await Deno.chmod(dir, 0o711);
    const basePort = 21_000 + Math.floor(Math.random() * 8_000);
    // Domains of this run only, whatever another test or an earlier run left in libvirt.
    const domainRoot = testPrefix();
    const layout = devnetLayout(basePort, dir, domainRoot);
    const [seedNode, gpuNode, gpu2Node, client1Node, client2Node] = layout as [
      DevnetNode,
      DevnetNode,
      DevnetNode,
      DevnetNode,
      DevnetNode,
    ];
    const running: Running[] = [];
    try {
      const seedRunning = await startNode(seedNode, seedNode.p2pPort);
      running.push(seedRunning);
      // The seed is the ledger authority of every other node.
      const started = await Promise.all(
        [gpuNode, gpu2Node, client1Node, client2Node].map((node) =>
          startNode(node, seedNode.p2pPort, seedRunning.nodeId)
        ),
      );
      running.push(...started);
      const [gpu, gpu2, client1, client2] = started as [Running, Running, Running, Running];
      const { alice, bob, charlie, eve, ferdie } = await devWallets();

      step("nodes up");
      // The GPU node's operator offers the test guest as VM images; they copy in meanwhile.
      const imagesReady = (async () => {
        for (
          const [name, path] of [
            ["base.qcow2", guest.baseDisk],
            ["vmlinuz", guest.kernel],
            ["initrd.img", guest.initrd],
          ] as const
        ) {
          // The node service may read only its own image directory: the file goes there first.
          await Deno.copyFile(path, `${gpu.dataDir}/images/${name}`);
          const added = await operator(gpu, "POST", "images/vm", {
            name,
            path: `${gpu.dataDir}/images/${name}`,
          });
          assert.equal(added.name, name);
        }
        return await waitFor("VM images ready", async () => {
          const images = (await operator(gpu, "GET", "images")).vm as Json[];
          return images.length === 3 && images.every((image) => image.state === "ready")
            ? images
            : undefined;
        }, 60_000);
      })();
      // Both client-ends see the seed and the GPU nodes.
      for (const client of [client1, client2]) {
        await waitFor(`${client.name} linked to the seed and GPU nodes`, async () => {
          const peers = ok<{ peers: Array<{ id: string }> }>(
            await api(client, "GET", "/api/v1/peers/active"),
          ).peers.map((peer) => peer.id);
          return [running[0]!.nodeId, gpu.nodeId, gpu2.nodeId].every((id) => peers.includes(id))
            ? true
            : undefined;
        }, 60_000);
      }

      step("linked");
      // The owner (Alice, the GPU node's owner_wallet) registers its machine with the CLI: the
      // node's operator API makes the registration its key signs, Alice's wallet signs the request.
      // What it declares is what a check VM on this (TCG) libvirt shows its guest.
      const registered = await cli([
        "machine",
        "register",
        "--prices",
        "hour=10",
        "--declare",
        [
          "gpu_model=none",
          "gpu_count=0",
          `cpu_model=${TCG_CPU_MODEL}`,
          "cpu_cores=2",
          "memory_gib=1",
          "disk_gib=1",
        ].join(","),
      ], {
        DBC_API: `http://127.0.0.1:${gpu.httpPort}`,
        DBC_WALLET_URI: "//Alice",
        DBC_OPERATOR_TOKEN: (await Deno.readTextFile(`${gpu.dataDir}/operator.token`)).trim(),
      });
      assert.equal(registered.status, 0, registered.text);
      assert.match(registered.text, /^status +unverified$/m);

      step("registered");
      // Three validators run `validate` through client-1, unattended: each grabs the order, waits
      // for its slot, makes its check VM on the GPU node (real libvirt), reads what the guest saw
      // and reports it. A fourth validator finds no order left.
      await imagesReady;
      const validations = await Promise.all(
        ["//Charlie", "//Eve", "//Ferdie"].map((uri) =>
          cli([
            "validate",
            gpu.nodeId,
            "--image",
            "base.qcow2",
            "--kernel",
            "vmlinuz",
            "--initrd",
            "initrd.img",
            "--json",
          ], { DBC_API: `http://127.0.0.1:${client1.httpPort}`, DBC_WALLET_URI: uri })
        ),
      );
      for (const run of validations) {
        assert.equal(run.status, 0, run.text);
        const result = JSON.parse(run.out.at(-1)!);
        assert.equal(result.report.kind, "observed", run.text);
        assert.equal(result.machine.confirms, true, run.text);
      }
      const fourth = await api(client1, "POST", `/api/v1/ledger/machines/${gpu.nodeId}/grab`, {
        signer: bob,
        body: {},
      });
      assert.equal(fourth.status, 409, JSON.stringify(fourth.body));
      step("validated");
      const online = ok(await api(client2, "GET", `/api/v1/ledger/machines/${gpu.nodeId}`));
      assert.equal(online.status, "online");
      assert.deepEqual(
        online.validation.validators.map((order: Json) => order.validator).sort(),
        [charlie, eve, ferdie].map((pair) => pair.address).sort(),
      );
      // Every check VM is gone from libvirt.
      assert.deepEqual(await domainsOf(gpuNode.domainPrefix), []);

      step("online");
      // Bob has no funds: his rent is refused and changes nothing. Ferdie, the ledger admin, funds
      // Alice; she rents it for an hour (paying herself, its owner).
      const client2Api = `http://127.0.0.1:${client2.httpPort}`;
      const broke = await cli(["rent", gpu.nodeId, "--period", "1", "--unit", "hour"], {
        DBC_API: client2Api,
        DBC_WALLET_URI: "//Bob",
      });
      assert.equal(broke.status, 1, broke.text);
      assert.match(broke.text, /insufficient balance/);
      const funded = await cli(["ledger", "fund", alice.address, "100"], {
        DBC_API: client2Api,
        DBC_WALLET_URI: "//Ferdie",
      });
      assert.equal(funded.status, 0, funded.text);
      const rented = await cli(["rent", gpu.nodeId, "--period", "1", "--unit", "hour", "--json"], {
        DBC_API: client2Api,
        DBC_WALLET_URI: "//Alice",
      });
      assert.equal(rented.status, 0, rented.text);
      const rental = JSON.parse(rented.out.at(-1)!);
      assert.equal(rental.renter, alice.address);
      assert.equal(rental.total_amount, "10");
      assert.equal(
        ok(await api(client1, "GET", `/api/v1/ledger/accounts/${alice.address}`)).balance,
        "100",
        "Alice paid herself",
      );

      step("rented");
      // Alice creates a VM through client-1 and follows its creation to the end.
      await imagesReady;
      const vmCreated = await api(client1, "POST", "/api/v1/tasks/start", {
        signer: alice,
        body: {
          peer_nodes_list: [gpu.nodeId],
          image_name: "base.qcow2",
          cpu_cores: 1,
          mem_size: 0.25,
          direct_boot: {
            kernel_image: "vmlinuz",
            initrd_image: "initrd.img",
            cmdline: guest.cmdline,
          },
        },
      });
      assert.equal(vmCreated.status, 202, JSON.stringify(vmCreated.body));
      const vmId: string = vmCreated.body.data.task_id;
      const vmStates = await followOperation(
        client1,
        vmCreated.body.data.operation_id,
        gpu.nodeId,
        alice,
      );
      assert.equal(vmStates.at(-1), "done", `operation states: ${vmStates.join(", ")}`);
      step("VM created");
      // Queried through client-2: running in libvirt, with its login port and VNC password.
      const vm = ok(
        await api(client2, "GET", `/api/v1/tasks/${vmId}?node_id=${gpu.nodeId}`, {
          signer: alice,
        }),
      );
      assert.equal(vm.state, "running");
      assert.ok(vm.domain.startsWith(gpuNode.domainPrefix), `domain ${vm.domain}`);
      assert.equal(vm.hypervisor.status, "running");
      assert.equal(vm.login.protocol, "ssh");
      assert.ok(vm.vnc.password.length >= 8);
      assert.equal((await virsh("domstate", vm.domain)).stdout.trim(), "running");
      // Bob sees neither it nor its login details, and cannot stop it.
      const bobTasks = ok(
        await api(client2, "GET", `/api/v1/tasks?node_id=${gpu.nodeId}`, { signer: bob }),
      );
      assert.deepEqual(bobTasks.tasks, []);
      const bobVm = await api(client2, "GET", `/api/v1/tasks/${vmId}?node_id=${gpu.nodeId}`, {
        signer: bob,
      });
      assert.equal(bobVm.status, 404);
      assert.doesNotMatch(JSON.stringify(bobVm.body), new RegExp(vm.vnc.password));
      const vmAction = async (client: DevnetNode, action: string) =>
        ok(
          await api(client, "POST", `/api/v1/tasks/${vmId}/${action}`, {
            signer: alice,
            body: { peer_nodes_list: [gpu.nodeId] },
          }),
        ).state;
      assert.equal(
        (await api(client1, "POST", `/api/v1/tasks/${vmId}/stop`, {
          signer: bob,
          body: { peer_nodes_list: [gpu.nodeId] },
        })).status,
        404,
      );
      // The guest's own console, read through client-2, shows it booted (and can take ACPI now).
      // Booted since the last power-off: the marker comes after the guest's power-off line.
      const booted = () =>
        waitFor("the guest's boot marker in its console", async () => {
          const lines: string[] = ok(
            await api(client2, "GET", `/api/v1/tasks/${vmId}/trace?node_id=${gpu.nodeId}`, {
              signer: alice,
            }),
          ).lines;
          const last = (text: string) => lines.findLastIndex((line) => line.includes(text));
          return last(guest.marker) > last("DBC-TEST-GUEST-POWEROFF") ? true : undefined;
        }, 60_000);
      await booted();
      // Stop through client-2, start through client-1: libvirt follows.
      assert.equal(await vmAction(client2, "stop"), "stopped");
      assert.equal((await virsh("domstate", vm.domain)).stdout.trim(), "shut off");
      assert.equal(await vmAction(client1, "start"), "running");
      assert.equal((await virsh("domstate", vm.domain)).stdout.trim(), "running");
      await booted();
      step("VM stop/start done");
      // Alice delegates: a session made through client-1 lets its holder, who has no wallet,
      // see her VM through client-2, until she revokes it.
      const session = ok(
        await api(client1, "POST", "/api/v1/sessions", {
          signer: alice,
          body: { peer_nodes_list: [gpu.nodeId], ttl_s: 600, label: "devnet" },
        }),
      );
      const asHolder = () =>
        fetch(`http://127.0.0.1:${client2.httpPort}/api/v1/tasks?node_id=${gpu.nodeId}`, {
          headers: { "x-dbc-session": session.session_id },
        }).then(async (response) => ({ status: response.status, body: await response.json() }));
      assert.deepEqual(
        ok(await asHolder()).tasks.map((task: { id: string }) => task.id),
        [vmId],
      );
      ok(
        await api(client2, "POST", `/api/v1/sessions/${session.prefix}/revoke`, {
          signer: alice,
          body: { peer_nodes_list: [gpu.nodeId] },
        }),
      );
      assert.equal((await asHolder()).status, 401);
      step("session delegated and revoked");

      // Alice creates a container on the GPU node through client-1 and follows its creation.
      const created = await api(client1, "POST", "/api/v1/containers/create", {
        signer: alice,
        body: {
          peer_nodes_list: [gpu.nodeId],
          image: TEST_IMAGE,
          command: [
            "sh",
            "-c",
            "trap 'exit 0' TERM; echo devnet-hello; while true; do sleep 1; done",
          ],
          ssh: true,
        },
      });
      assert.equal(created.status, 202, JSON.stringify(created.body));
      const { task_id: containerId, operation_id: operationId } = created.body.data;
      step("create accepted");
      const states = await followOperation(client1, operationId, gpu.nodeId, alice);
      assert.equal(states.at(-1), "done", `operation states: ${states.join(", ")}`);

      step("created");
      // Query it through the other client-end: running, with its SSH port and its own output.
      const detail = ok(
        await api(client2, "GET", `/api/v1/containers/${containerId}?node_id=${gpu.nodeId}`, {
          signer: alice,
        }),
      );
      assert.equal(detail.state, "running");
      assert.equal(detail.owner, alice.address);
      assert.ok(
        detail.ports.some((port: { container_port: number }) => port.container_port === 22),
      );
      const logs = await waitFor("the container's own output", async () => {
        const answer = ok(
          await api(
            client2,
            "GET",
            `/api/v1/containers/${containerId}/logs?node_id=${gpu.nodeId}`,
            { signer: alice },
          ),
        );
        return answer.lines.some((line: { text?: string } | string) =>
            JSON.stringify(line).includes("devnet-hello")
          )
          ? answer
          : undefined;
      }, 30_000);
      assert.ok(logs);

      step("queried");
      // Another renter cannot see or touch it.
      const bobAnswer = await api(client1, "GET", `/api/v1/containers?node_id=${gpu.nodeId}`, {
        signer: bob,
      });
      assert.deepEqual(ok(bobAnswer).containers, []);
      // The client-end says where a forwarded request's time went; the GPU node's API took some.
      assert.equal(bobAnswer.headers.get("x-dbc-served-by"), gpu.nodeId);
      assert.match(
        bobAnswer.headers.get("server-timing") ?? "",
        /^client-end;dur=[\d.]+, network;dur=[\d.]+, node;dur=(?!0(,|$))[\d.]+$/,
      );
      const bobStop = await api(client1, "POST", `/api/v1/containers/${containerId}/stop`, {
        signer: bob,
        body: { peer_nodes_list: [gpu.nodeId] },
      });
      assert.equal(bobStop.status, 404);
      const bobCreate = await api(client1, "POST", "/api/v1/containers/create", {
        signer: bob,
        body: { peer_nodes_list: [gpu.nodeId], image: TEST_IMAGE },
      });
      assert.equal(bobCreate.status, 403, JSON.stringify(bobCreate.body));
      assert.match(bobCreate.body.error_message ?? "", /does not rent machine/);

      // Stop through client-2, start through client-1.
      assert.equal(
        ok(
          await api(client2, "POST", `/api/v1/containers/${containerId}/stop`, {
            signer: alice,
            body: { peer_nodes_list: [gpu.nodeId] },
          }),
        ).state,
        "stopped",
      );
      assert.equal(
        ok(
          await api(client1, "POST", `/api/v1/containers/${containerId}/start`, {
            signer: alice,
            body: { peer_nodes_list: [gpu.nodeId] },
          }),
        ).state,
        "running",
      );

      step("stop/start done");
      // Client-1 leaves; the renter carries on through client-2.
      await stop(client1);
      const afterLeaving = ok(
        await api(client2, "GET", `/api/v1/containers/${containerId}?node_id=${gpu.nodeId}`, {
          signer: alice,
        }),
      );
      assert.equal(afterLeaving.state, "running");

      step("client-1 left");
      // The VM too is operated through client-2 alone now: stopped, then deleted with its domain.
      assert.equal(await vmAction(client2, "stop"), "stopped");
      assert.equal(await vmAction(client2, "delete"), "deleted");
      assert.notEqual((await virsh("domstate", vm.domain)).code, 0, "the domain is gone");
      const vmEvents = (await operator(gpu, "GET", `events?target=${vmId}`)).events as Json[];
      assert.deepEqual(
        vmEvents.filter((event) => event.actor === alice.address).map((event) => event.action)
          .reverse(),
        ["vm.create", "vm.stop", "vm.start", "vm.stop", "vm.delete"],
      );
      // The lease loop takes the VM up at its first pass after the create (when that falls depends
      // on the interval and the machine's load); it must never have acted against a paid rental.
      for (const event of vmEvents.filter((event) => event.actor !== alice.address)) {
        assert.deepEqual(
          [event.action, event.result],
          ["lease.track", "ok"],
          JSON.stringify(event),
        );
      }

      // A GPU node that has left (killed) gives a clear error within the time-out.
      await stop(gpu2, "SIGKILL");
      const askedAt = Date.now();
      const gone = await api(client2, "GET", `/api/v1/containers?node_id=${gpu2.nodeId}`, {
        signer: alice,
      });
      assert.ok(
        [503, 504].includes(gone.status),
        `HTTP ${gone.status}: ${JSON.stringify(gone.body)}`,
      );
      assert.match(gone.body.error_message ?? "", new RegExp(gpu2.nodeId));
      assert.ok(Date.now() - askedAt < 20_000, "answered within the request time-out");

      step("gone node answered");
      // Delete it.
      assert.equal(
        ok(
          await api(client2, "POST", `/api/v1/containers/${containerId}/delete`, {
            signer: alice,
            body: { peer_nodes_list: [gpu.nodeId] },
          }),
        ).state,
        "deleted",
      );
    } finally {
      await Promise.all(running.map((node) => stop(node)));
      await removeDomains(domainRoot);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
