/**
 * An original DBC client against a real network: a seed (the ledger), a GPU
 * node (real libvirt, the test guest's disk as `ubuntu.qcow2`) and a
 * client-end, each a real node process. Once Alice rents the machine, the
 * example requests of ORIGINAL_API.md go to the client-end's
 * original-dialect port as written, with real sr25519 signatures of fresh
 * nonces and this network's machine id: a session id, the Linux create
 * (first as written, which asks for GPUs this host lacks, then with what it
 * has), the Windows create on UEFI (first as written, then with what this
 * host has, a custom port and its desc kept: it runs on OVMF), list and
 * detail, stop and the log's tail, data disks, a password change (refused:
 * the guest never boots, so no agent answers), a snapshot, the multisig
 * restart, the machine's detail, delete. The VMs really run, stop and go in
 * libvirt. The test guest's disk has no boot loader, so its console stays
 * empty: the log is checked for its shape.
 */
import assert from "node:assert/strict";
import type { KeyringPair } from "@polkadot/keyring/types";
import { devnetLayout, type DevnetNode } from "../../scripts/devnet.ts";
import { derivedMachineId } from "../../mod/mod.ts";
import { freePort, scratchDir, waitFor } from "../helpers.ts";
import {
  removeDomains,
  requireLibvirt,
  testGuest,
  testPrefix,
  virsh,
} from "../node_service/vm/libvirt_fixture.ts";
import { devWallets, freshNonce } from "../wallets.ts";
import { signText } from "../http/compat_fixture.ts";
import { api, type Json, ok, operator, type Running, startNode, stop } from "./devnet_nodes.ts";

/** Nine slots of 10 s: the shortest round the ledger allows, so validators report within the test. */
const VERIFICATION_WINDOW_S = 90;
/** The GPU node's VM login ports: the examples' 3389, 5678 and 5907 among them. */
const VM_PORT_RANGE = "3300-5999";

const step = (what: string) => console.error(`[compat devnet ${new Date().toISOString()}] ${what}`);

/** `port` if nothing listens on it now, else a free one (from `min` up): a busy CI host. */
function portOr(port: number, min = 1): number {
  try {
    Deno.listen({ hostname: "0.0.0.0", port }).close();
    return port;
  } catch {
    for (;;) {
      const other = freePort();
      if (other >= min) return other;
    }
  }
}

/** The first port of `first`..`last` nothing listens on now. */
function freeIn(first: number, last: number): number {
  for (let port = first; port <= last; port++) {
    try {
      Deno.listen({ hostname: "0.0.0.0", port }).close();
      return port;
    } catch {
      // taken: the next
    }
  }
  throw new Error(`no free port in ${first}-${last}`);
}

/** POSTs `body` to the client-end's original-dialect port, as an original client does. */
async function original(
  client: DevnetNode,
  path: string,
  body: unknown,
  method = "POST",
): Promise<{ status: number; body: Json }> {
  const response = await fetch(`http://127.0.0.1:${client.compatPort!}${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: method === "GET" ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

function wallet(pair: KeyringPair) {
  const nonce = freshNonce();
  return { wallet: pair.address, nonce, sign: signText(pair, nonce) };
}

/** The machine becomes rentable: registered by its owner, checked by three validators in their slots. */
async function bringOnline(
  gpu: Running,
  client: Running,
  wallets: Awaited<ReturnType<typeof devWallets>>,
): Promise<void> {
  const { alice, charlie, eve, ferdie } = wallets;
  const declared = {
    gpu_model: "none",
    gpu_count: 0,
    cpu_model: "qemu",
    cpu_cores: 2,
    memory_gib: 4,
    disk_gib: 20,
  };
  const made = await operator(gpu, "POST", "registration", {
    prices: { hour: "10" },
    config: declared,
  });
  const registered = await api(client, "POST", "/api/v1/ledger/machines", {
    signer: alice,
    body: made.registration,
  });
  assert.equal(registered.status, 201, JSON.stringify(registered.body));
  let machine: Json;
  for (const validator of [charlie, eve, ferdie]) {
    machine = ok(
      await api(client, "POST", `/api/v1/ledger/machines/${gpu.nodeId}/grab`, {
        signer: validator,
        body: {},
      }),
    );
  }
  for (const validator of [charlie, eve, ferdie]) {
    const entry = machine.validation.validators.find((item: Json) =>
      item.validator === validator.address
    );
    const slot = entry.slots.find((candidate: Json) => candidate.ends_at > Date.now() + 300);
    const wait = slot.starts_at - Date.now() + 100;
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    ok(
      await api(client, "POST", `/api/v1/ledger/machines/${gpu.nodeId}/report`, {
        signer: validator,
        body: { report: { kind: "observed", observed: made.registration.config } },
      }),
    );
  }
  assert.equal(
    ok(await api(client, "GET", `/api/v1/ledger/machines/${gpu.nodeId}`)).status,
    "online",
  );
}

Deno.test({
  name: "an original client drives a real devnet through the client-end's original-dialect port",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await requireLibvirt();
    const guest = await testGuest();
    const dir = await scratchDir("compat-devnet");
    const basePort = 21_000 + Math.floor(Math.random() * 8_000);
    const domainRoot = testPrefix();
    const [seedNode, gpuNode, , clientNode] = devnetLayout(basePort, dir, domainRoot) as [
      DevnetNode,
      DevnetNode,
      DevnetNode,
      DevnetNode,
    ];
    const env = {
      DBC_LEDGER_VERIFICATION_WINDOW_S: String(VERIFICATION_WINDOW_S),
      DBC_VM_PORT_RANGE: VM_PORT_RANGE,
    };
    const running: Running[] = [];
    try {
      const seed = await startNode(seedNode, seedNode.p2pPort, undefined, env);
      running.push(seed);
      const [gpu, client] = await Promise.all(
        [gpuNode, clientNode].map((node) => startNode(node, seedNode.p2pPort, seed.nodeId, env)),
      ) as [Running, Running];
      running.push(gpu, client);
      const wallets = await devWallets();
      const { alice, bob, charlie, ferdie } = wallets;

      // The GPU node shows its machine id: the one derived from its node key.
      const machineId = ok(await api(gpu, "GET", "/api/v1/node")).machine_id as string;
      assert.equal(machineId, derivedMachineId(gpu.nodeId));
      // The operator offers the test guest's disk under the examples' image name.
      await Deno.copyFile(guest.baseDisk, `${gpu.dataDir}/images/ubuntu.qcow2`);
      await operator(gpu, "POST", "images/vm", {
        name: "ubuntu.qcow2",
        path: `${gpu.dataDir}/images/ubuntu.qcow2`,
      });
      // And as example 3's Windows image (a blank disk: OVMF finds nothing to boot, and runs on).
      await Deno.copyFile(guest.baseDisk, `${gpu.dataDir}/images/windows_1909.qcow2`);
      await operator(gpu, "POST", "images/vm", {
        name: "windows_1909.qcow2",
        path: `${gpu.dataDir}/images/windows_1909.qcow2`,
      });
      // The client-end hears the GPU node announce itself: the original's node list shows it.
      await waitFor("the GPU node in the client-end's mining_nodes", async () => {
        const answer = await original(client, "/api/v1/mining_nodes", {
          peer_nodes_list: [],
          additional: {},
        });
        return answer.body.message.mining_nodes.some((node: Json) => node.node_id === machineId)
          ? true
          : undefined;
      }, 60_000);
      step("linked");
      await bringOnline(gpu, client, wallets);
      ok(
        await api(client, "POST", `/api/v1/ledger/accounts/${alice.address}/fund`, {
          signer: ferdie,
          body: { amount: "100" },
        }),
      );
      ok(
        await api(client, "POST", "/api/v1/ledger/rentals", {
          signer: alice,
          body: { machine_id: gpu.nodeId, unit: "hour", count: 1 },
        }),
      );
      step("rented");

      // 1. The renter's session id.
      const session = await original(client, "/api/v1/mining_nodes/session_id", {
        peer_nodes_list: [machineId],
        additional: {},
        ...wallet(alice),
      });
      assert.equal(session.status, 200);
      assert.equal(session.body.errcode, 0, JSON.stringify(session.body));
      const sessionId: string = session.body.message.session_id;
      const bySession = { session_id: sessionId, session_id_sign: signText(alice, sessionId) };

      // 2. The Linux create as written asks for two GPUs this host has not: the node's refusal.
      const sshPort = portOr(5678);
      const vncPort = portOr(5907, 5900);
      const additional = {
        ssh_port: String(sshPort),
        image_name: "ubuntu.qcow2",
        gpu_count: "2",
        cpu_cores: "30",
        mem_size: "32",
        disk_size: "10",
        vnc_port: String(vncPort),
        vm_xml: "",
        vm_xml_url: "",
      };
      const asWritten = await original(client, "/api/v1/tasks/start", {
        peer_nodes_list: [machineId],
        additional,
        ...bySession,
      });
      assert.equal(asWritten.status, 200);
      assert.equal(asWritten.body.errcode, 1, JSON.stringify(asWritten.body));
      // With what this host has, it is made.
      const created = await original(client, "/api/v1/tasks/start", {
        peer_nodes_list: [machineId],
        additional: { ...additional, gpu_count: "0", cpu_cores: "1", mem_size: "1" },
        ...bySession,
      });
      assert.equal(created.body.errcode, 0, JSON.stringify(created.body));
      assert.equal(created.body.message.status, "creating");
      const taskId: string = created.body.message.task_id;

      // 3. Windows with UEFI, signed by the wallet beside empty session fields. As written it
      // asks for a GPU and a VNC port the Linux VM took: the node's refusal.
      const windowsAdditional = {
        ssh_port: "",
        rdp_port: "3389",
        image_name: "windows_1909.qcow2",
        data_file_name: "",
        gpu_count: "1",
        cpu_cores: "8",
        mem_size: "32",
        disk_size: "1",
        vnc_port: String(vncPort),
        operation_system: "windows",
        bios_mode: "uefi",
        desc: "omniverse",
      };
      const windowsAsWritten = await original(client, "/api/v1/tasks/start", {
        peer_nodes_list: [machineId],
        additional: windowsAdditional,
        ...wallet(alice),
        session_id: "",
        session_id_sign: "",
      });
      assert.equal(windowsAsWritten.status, 200);
      assert.equal(windowsAsWritten.body.errcode, 1, JSON.stringify(windowsAsWritten.body));
      // With what this host has, and a custom port forward: it runs, on OVMF.
      const rdpPort = freeIn(3389, 3399);
      const customPort = freeIn(4000, 4099);
      const windows = await original(client, "/api/v1/tasks/start", {
        peer_nodes_list: [machineId],
        additional: {
          ...windowsAdditional,
          rdp_port: String(rdpPort),
          gpu_count: "0",
          cpu_cores: "1",
          mem_size: "1",
          vnc_port: String(freeIn(5910, 5999)),
          custom_port: [`tcp,${customPort}:8080`],
        },
        ...wallet(alice),
        session_id: "",
        session_id_sign: "",
      });
      assert.equal(windows.body.errcode, 0, JSON.stringify(windows.body));
      assert.equal(windows.body.message.desc, "omniverse");
      const windowsId: string = windows.body.message.task_id;
      const windowsDomain = `${gpuNode.domainPrefix}${windowsId}`;
      const windowsDetail = await waitFor("the Windows VM running", async () => {
        const answer = await original(client, `/api/v1/tasks/${windowsId}`, {
          peer_nodes_list: [machineId],
          additional: {},
          ...bySession,
        });
        return answer.body.message?.status === "running" ? answer.body.message : undefined;
      }, 90_000);
      assert.equal(windowsDetail.os, "windows");
      assert.equal(windowsDetail.rdp_port, String(rdpPort));
      assert.equal(windowsDetail.desc, "omniverse");
      const windowsXml = (await virsh("dumpxml", windowsDomain)).stdout;
      assert.match(windowsXml, /<loader[^>]*>[^<]*OVMF[^<]*<\/loader>/);
      assert.match(windowsXml, new RegExp(`hostfwd=tcp:[0-9.]+:${customPort}-:8080`));
      const windowsDeleted = await original(client, `/api/v1/tasks/delete/${windowsId}`, {
        peer_nodes_list: [machineId],
        additional: {},
        ...wallet(alice),
      });
      assert.deepEqual(windowsDeleted.body, { errcode: 0, message: "ok" });
      step("Windows VM ran on UEFI and was deleted");

      // 4. The list, then the detail, by session: running in libvirt.
      const detail = await waitFor("the VM running", async () => {
        const list = await original(client, "/api/v1/tasks", {
          peer_nodes_list: [machineId],
          additional: {},
          ...bySession,
        });
        assert.equal(list.body.errcode, 0, JSON.stringify(list.body));
        const task = list.body.message.find((item: Json) => item.task_id === taskId);
        if (task?.status !== "running") return undefined;
        const answer = await original(client, `/api/v1/tasks/${taskId}`, {
          peer_nodes_list: [machineId],
          additional: {},
          ...bySession,
        });
        return answer.body.message;
      }, 90_000);
      assert.equal(detail.ssh_port, String(sshPort));
      assert.equal(detail.vnc_port, String(vncPort));
      assert.equal(detail.cpu_cores, 1);
      assert.equal(detail.mem_size, "1G");
      assert.equal(detail.user_name, "dbc");
      assert.ok(detail.login_password.length >= 8);
      const domain = `${gpuNode.domainPrefix}${taskId}`;
      assert.equal((await virsh("domstate", domain)).stdout.trim(), "running");
      step("VM running");

      // 5. Stop (power off) and the log's tail, signed by the wallet.
      const stopBody = { peer_nodes_list: [machineId], additional: {}, ...wallet(alice) };
      const stopped = await original(client, `/api/v1/tasks/stop/${taskId}`, stopBody);
      assert.deepEqual(stopped, { status: 200, body: { errcode: 0, message: "ok" } });
      assert.equal((await virsh("domstate", domain)).stdout.trim(), "shut off");
      const logs = await original(client, `/api/v1/tasks/logs/${taskId}?flag=tail&line_num=100`, {
        peer_nodes_list: [machineId],
        additional: {},
        ...wallet(alice),
      });
      assert.equal(logs.body.errcode, 0, JSON.stringify(logs.body));
      assert.equal(logs.body.message.task_id, taskId);
      assert.ok(Array.isArray(logs.body.message.log_content));
      // The stop's nonce is spent.
      const replayed = await original(client, `/api/v1/tasks/stop/${taskId}`, stopBody);
      assert.equal(replayed.status, 200);
      assert.equal(replayed.body.errcode, -3);

      // Data disks of the stopped VM: added, listed, grown (never shrunk), deleted.
      const disk = (word: string, extra: Record<string, unknown>) =>
        original(client, `/api/v1/disk/${word}/${taskId}`, {
          peer_nodes_list: [machineId],
          additional: extra,
          ...wallet(alice),
        });
      assert.deepEqual((await disk("add", { size: 1, mount_dir: "/data" })).body, {
        errcode: 0,
        message: "ok",
      });
      assert.deepEqual((await disk("resize", { disk: "vdc", size: 2 })).body, {
        errcode: 0,
        message: "ok",
      });
      const shrink = await disk("resize", { disk: "vdc", size: 1 });
      assert.equal(shrink.body.errcode, 1);
      assert.match(shrink.body.message, /only grows/);
      const disks = await disk("list", {});
      assert.deepEqual(disks.body.message.map((item: Json) => [item.name, item.size]), [
        ["vda", "10G"],
        ["vdc", "2G"],
      ]);
      assert.match((await virsh("domblklist", domain)).stdout, /vdc\s+\S+data-vdc\.qcow2/);
      assert.deepEqual((await disk("delete", { disk: "vdc" })).body, { errcode: 0, message: "ok" });
      assert.doesNotMatch((await virsh("domblklist", domain)).stdout, /vdc/);
      // A new password needs the VM running (and a guest agent, which this unbooted guest lacks).
      const passwd = await original(client, `/api/v1/tasks/passwd/${taskId}`, {
        peer_nodes_list: [machineId],
        additional: { username: "dbc", password: "a-new-password" },
        ...wallet(alice),
      });
      assert.equal(passwd.body.errcode, 1);
      assert.match(passwd.body.message, /start it first/);
      step("data disks added, grown, deleted");

      // A snapshot of the stopped VM.
      const snapshot = await original(client, `/api/v1/snapshot/create/${taskId}`, {
        peer_nodes_list: [machineId],
        additional: { snapshot_name: "first", desc: "stopped", image_server: "" },
        ...wallet(alice),
      });
      assert.deepEqual(snapshot.body, { errcode: 0, message: "ok" });
      const snapshots = await original(client, `/api/v1/snapshot/list/${taskId}`, {
        peer_nodes_list: [machineId],
        additional: {},
        ...bySession,
      });
      assert.deepEqual(snapshots.body.message.map((item: Json) => item.snapshot_name), ["first"]);
      step("stopped, log read, snapshot taken");

      // 6. The multisig restart: its signatures hold, but that account owns no task here.
      const signatories = [alice.address, bob.address, charlie.address];
      const multisig = await original(
        client,
        `/api/v1/tasks/restart/${taskId}?force_reboot=true`,
        {
          peer_nodes_list: [machineId],
          additional: {},
          multisig_accounts: {
            wallets: signatories,
            threshold: "2",
            signs: [alice, bob].map((pair) => wallet(pair)),
          },
        },
      );
      assert.deepEqual(multisig.body, { errcode: 1, message: "task not exist" });

      // The machine's detail and the peers, unsigned; a GET is refused.
      const machine = await original(client, "/api/v1/mining_nodes", {
        peer_nodes_list: [machineId],
        additional: {},
      });
      assert.equal(machine.body.errcode, 0, JSON.stringify(machine.body));
      assert.deepEqual(machine.body.message.images.map((image: Json) => image.image_name), [
        "ubuntu.qcow2",
        "windows_1909.qcow2",
      ]);
      const peers = await original(client, "/api/v1/peers/active", {});
      assert.ok(peers.body.message.peer_nodes.some((peer: Json) => peer.node_id === gpu.nodeId));
      assert.deepEqual(await original(client, "/api/v1/tasks", undefined, "GET"), {
        status: 400,
        body: { errcode: -32600, message: "only support POST request" },
      });

      // Delete, by session: gone from libvirt and from the list.
      const deleted = await original(client, `/api/v1/tasks/delete/${taskId}`, {
        peer_nodes_list: [machineId],
        additional: {},
        ...bySession,
      });
      assert.deepEqual(deleted.body, { errcode: 0, message: "ok" });
      assert.notEqual((await virsh("domstate", domain)).code, 0);
      const after = await original(client, "/api/v1/tasks", {
        peer_nodes_list: [machineId],
        additional: {},
        ...bySession,
      });
      assert.deepEqual(after.body, { errcode: 0, message: [] });
      step("deleted");
    } finally {
      for (const node of running.reverse()) await stop(node);
      await removeDomains(domainRoot);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
