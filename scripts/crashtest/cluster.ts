/**
 * What the crash test runs against: a seed keeping the ledger and a GPU node
 * whose ledger authority it is, real processes on loopback, as in
 * tests/integration/outage_test.ts. The GPU node registers itself for its
 * owner (//Alice) through its operator API, three validators report what it
 * declared in their slots (no check VMs: their path is not what this test
 * crashes), the ledger admin (//Ferdie) funds the renter (//Eve), who rents it
 * for a day. That is the cheapest honest path to a node that accepts a
 * renter's operations: the node asks the seed's ledger over the network, as
 * in production; the operator API makes no instances.
 *
 * The GPU node runs VMs on real libvirt (TCG guests: the test guest of
 * scripts/system/build_test_vm_image.sh, added as VM images through the
 * operator API) and containers on real Podman; `nvidia-smi` on its PATH is a
 * stand-in that reports one GPU, so GPU allocations are made and must be
 * given back (a VM's passthrough or a container's device request for it
 * fails, and the create is undone).
 */
import type { KeyringPair } from "@polkadot/keyring/types";
import { ApiClient } from "../../http/mod.ts";
import { freePort, GiveUp, scratchDir, waitFor } from "../../tests/helpers.ts";
import { testGuest, testPrefix } from "../../tests/node_service/vm/libvirt_fixture.ts";
import { devWallets } from "../../tests/wallets.ts";
import { NodeProcess, type NodeSpec } from "./node_process.ts";

export const DOCKER_SOCKET = "/run/dbc-podman/podman.sock";
export const CONTAINER_IMAGE = "localhost/dbc-test-busybox:latest";
const NETWORK_ID = "dbc-crashtest";
/** The shortest round a ledger allows: nine slots of 10 s. */
const VERIFICATION_WINDOW_S = 90;
/** One GPU, as `nvidia-smi --query-gpu=... --format=csv,noheader,nounits` prints it. */
const FAKE_GPU_CSV =
  "0, GPU-c7a5e0b2-3f4d-4e1a-9b8c-0d1e2f3a4b5c, NVIDIA GeForce RTX 4090, 00000000:41:00.0, 24564, 1, 0, 34, 550.54.14";
const NODE_UP_TIMEOUT_MS = 120_000;
/** Longer than any crash test: the rental never ends under it. */
const RENTAL_HOURS = 48;

export type VmImages = { disk: string; kernel: string; initrd: string; cmdline: string };

export type Cluster = {
  dir: string;
  seed: NodeProcess;
  /** The GPU node's incarnation now; {@link restartGpu} replaces it. */
  gpu: NodeProcess;
  gpuId: string;
  gpuSpec: NodeSpec;
  domainPrefix: string;
  vmDir: string;
  serviceDb: string;
  operatorToken: string;
  renter: KeyringPair;
  /** The renter's client of the GPU node's own API (requests name it as their node). */
  client: ApiClient;
  images: VmImages;
};

export type Progress = (message: string) => void;

/** Starts the seed and the GPU node, rents the GPU node to the renter, offers the test guest. */
export async function startCluster(progress: Progress): Promise<Cluster> {
  const dir = await scratchDir("crashtest");
  const started: NodeProcess[] = [];
  try {
    return await onboard(dir, started, progress);
  } catch (error) {
    for (const node of started) await node.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
}

async function onboard(dir: string, started: NodeProcess[], progress: Progress): Promise<Cluster> {
  const { alice, bob, charlie, dave, eve, ferdie } = await devWallets();
  const guest = await testGuest();
  const bin = `${dir}/bin`;
  await Deno.mkdir(bin);
  await Deno.writeTextFile(`${bin}/nvidia-smi`, `#!/bin/sh\necho '${FAKE_GPU_CSV}'\n`, {
    mode: 0o755,
  });
  const path = `${bin}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`;
  const seedP2p = freePort();
  const seedSpec: NodeSpec = {
    name: "seed",
    dataDir: `${dir}/seed`,
    httpPort: freePort(),
    args: [
      "--role",
      "seed",
      ...common(seedP2p),
      "--ledger-open-validation",
      "true",
      "--ledger-admins",
      ferdie.address,
      "--ledger-verification-window-s",
      String(VERIFICATION_WINDOW_S),
    ],
    env: { PATH: path, DBC_LOG_LEVEL: "warn" },
  };
  seedSpec.args.push("--http-port", String(seedSpec.httpPort));
  const seed = await NodeProcess.start(seedSpec);
  started.push(seed);
  const seedId = await nodeUp(seed);
  progress(`seed up (${seedId})`);

  const domainPrefix = testPrefix();
  const gpuSpec: NodeSpec = {
    name: "gpu",
    dataDir: `${dir}/gpu`,
    httpPort: freePort(),
    args: [
      "--role",
      "gpu",
      ...common(freePort()),
      "--seeds",
      `127.0.0.1:${seedP2p}`,
      "--ledger-authority",
      seedId,
      "--owner-wallet",
      alice.address,
      "--vm-domain-prefix",
      domainPrefix,
      "--vm-domain-type",
      "qemu",
      "--docker-socket",
      DOCKER_SOCKET,
      // Crash runs fill no disk; the scratch volume may be small.
      "--vm-min-free-disk-gib",
      "1",
      "--container-stop-timeout-s",
      "2",
    ],
    env: { PATH: path },
  };
  gpuSpec.args.push("--http-port", String(gpuSpec.httpPort));
  const gpu = await NodeProcess.start(gpuSpec);
  started.push(gpu);
  const gpuId = await nodeUp(gpu);
  progress(`GPU node up (${gpuId}, domains ${domainPrefix}*)`);
  const operatorToken = (await Deno.readTextFile(`${gpuSpec.dataDir}/operator.token`)).trim();

  const images = offerImages(gpu, operatorToken, guest);
  // Awaited below; a failure meanwhile must not end the process as an unhandled rejection.
  images.catch(() => {});
  const at = (node: NodeProcess, signer?: KeyringPair) =>
    new ApiClient({ baseUrl: node.baseUrl, signer });
  const { registration } = await at(gpu).operatorRegistration(operatorToken, {
    prices: { hour: "1" },
  });
  await waitFor(
    "the registration to reach the ledger",
    () => at(gpu, alice).registerMachine(registration).catch(() => undefined),
    60_000,
  );
  const validators = [bob, charlie, dave];
  for (const validator of validators) {
    await at(seed, validator).request("POST", `/api/v1/ledger/machines/${gpuId}/grab`, {
      body: {},
    });
  }
  for (const [position, validator] of validators.entries()) {
    const machine = await at(seed).ledgerMachine(gpuId);
    const slot = machine.validation.validators[position]!.slots[0]!;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, slot.starts_at - Date.now())));
    await at(seed, validator).request("POST", `/api/v1/ledger/machines/${gpuId}/report`, {
      body: { report: { kind: "observed", observed: registration.config } },
    });
    progress(`validator ${position + 1}/3 reported`);
  }
  const status = (await at(seed).ledgerMachine(gpuId)).status;
  if (status !== "online") throw new Error(`the machine is ${status} after validation`);
  await at(seed, ferdie).fund(eve.address, "1000");
  await at(seed, eve).rent({ machine_id: gpuId, unit: "hour", count: RENTAL_HOURS });
  progress("rented");
  const client = at(gpu, eve);
  await renting(client, gpuId, eve.address);
  const cluster: Cluster = {
    dir,
    seed,
    gpu,
    gpuId,
    gpuSpec,
    domainPrefix,
    vmDir: `${gpuSpec.dataDir}/vms`,
    serviceDb: `${gpuSpec.dataDir}/node_service/node.db`,
    operatorToken,
    renter: eve,
    client,
    images: await images,
  };
  progress("VM images ready");
  return cluster;
}

/**
 * Starts the GPU node again on its data directory and waits until it answers,
 * has finished its start-up repair (VMs with libvirt, containers with the
 * engine: each logs when it is done) and accepts the renter again.
 */
export async function restartGpu(cluster: Cluster): Promise<void> {
  cluster.gpu = await NodeProcess.start(cluster.gpuSpec);
  await nodeUp(cluster.gpu);
  await withTimeout(
    "the GPU node's start-up repair",
    Promise.all([
      cluster.gpu.logged(REPAIR_DONE.vms),
      cluster.gpu.logged(REPAIR_DONE.containers),
    ]),
    NODE_UP_TIMEOUT_MS,
    cluster.gpu,
  );
  await renting(cluster.client, cluster.gpuId, cluster.renter.address);
}

/** The log lines that end the node's start-up repair. */
export const REPAIR_DONE = {
  vms: "reconciled VMs with libvirt",
  containers: "reconciled containers with the engine",
} as const;

/** Stops both nodes (SIGTERM). */
export async function stopCluster(cluster: Cluster): Promise<void> {
  await cluster.gpu.stop();
  await cluster.seed.stop();
}

function common(p2pPort: number): string[] {
  return [
    "--network-id",
    NETWORK_ID,
    "--p2p-host",
    "127.0.0.1",
    "--p2p-port",
    String(p2pPort),
    "--p2p-exchange-interval-ms",
    "1000",
  ];
}

/** Waits until the node answers `GET /api/v1/node` with all its workers running; its node id. */
async function nodeUp(node: NodeProcess): Promise<string> {
  return await waitFor(`${node.spec.name} to answer`, async () => {
    if (node.exited) {
      throw new GiveUp(`${node.spec.name} exited:\n${node.logTail()}`);
    }
    const response = await fetch(`${node.baseUrl}/api/v1/node`).catch(() => undefined);
    if (!response?.ok) {
      await response?.body?.cancel();
      return undefined;
    }
    const { data } = await response.json() as {
      data: { node_id: string; workers: Record<string, { state: string }> };
    };
    const running = Object.values(data.workers).every((worker) => worker.state === "running");
    return running ? data.node_id : undefined;
  }, NODE_UP_TIMEOUT_MS);
}

/** Waits until the GPU node, asking the seed's ledger, lets `account` operate on it. */
async function renting(client: ApiClient, nodeId: string, account: string): Promise<void> {
  await waitFor("the GPU node to see the rental", async () => {
    const check = await client.lease(nodeId, account);
    return check.renting ? true : undefined;
  }, NODE_UP_TIMEOUT_MS);
}

/** Copies the test guest into the node's image directory and adds it through the operator API. */
async function offerImages(
  gpu: NodeProcess,
  token: string,
  guest: Awaited<ReturnType<typeof testGuest>>,
): Promise<VmImages> {
  const files = { disk: "base.qcow2", kernel: "vmlinuz", initrd: "initrd.img" } as const;
  const operator = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${gpu.baseUrl}/api/v1/operator/${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const answer = await response.json();
    if (answer.error_code !== 0) throw new Error(`operator ${path}: ${answer.error_message}`);
    return answer.data;
  };
  const imageDir = `${gpu.spec.dataDir}/images`;
  for (
    const [name, source] of [
      [files.disk, guest.baseDisk],
      [files.kernel, guest.kernel],
      [files.initrd, guest.initrd],
    ] as const
  ) {
    // The node service reads only its own image directory: the file goes there first.
    await Deno.copyFile(source, `${imageDir}/${name}`);
    await operator("POST", "images/vm", { name, path: `${imageDir}/${name}` });
  }
  await waitFor("the VM images to be ready", async () => {
    const { vm } = await operator("GET", "images") as { vm: { state: string }[] };
    return vm.length === 3 && vm.every((image) => image.state === "ready") ? true : undefined;
  }, NODE_UP_TIMEOUT_MS);
  return { ...files, cmdline: guest.cmdline };
}

async function withTimeout<T>(
  what: string,
  promise: Promise<T>,
  ms: number,
  node: NodeProcess,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out waiting for ${what}:\n${node.logTail()}`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
