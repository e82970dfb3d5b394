/**
 * What a chaos run checks once the kills are over:
 *
 * - forgetting: how long, after a node is killed for good, until no survivor
 *   lists it any more, neither among its connected neighbours
 *   (`/api/v1/peers/active`) nor in its address book (`/api/v1/peers/global`);
 * - rentals: each rental made is still in the seed's ledger as it was made
 *   (same machine, renter, start, amount and payments; its end only ever
 *   moved later, by outages credited), and still active for its renter;
 * - instances: each container a renter saw made (running or stopped) and
 *   never sent a delete for is still on its GPU node, asked there directly:
 *   the node's record running or stopped, and the engine's container there.
 */
import { ApiClient, ApiClientError } from "../../http/mod.ts";
import type { Rental } from "../../mod/mod.ts";
import { DockerEngine } from "../../node_service/mod.ts";
import { DOCKER_SOCKET } from "./engine_sweep.ts";
import type { ChaosCluster, ChaosNode, Progress } from "./cluster.ts";
import type { RentalMade } from "./onboard.ts";
import { type RenterLoop, sleep } from "./renter.ts";

/** How often the survivors' peer lists are read while waiting for them to forget. */
const FORGET_POLL_MS = 1_000;
/** How long a node just started again may take to answer the audit. */
const AUDIT_RETRY_MS = 90_000;

/**
 * Seconds from the kill until every survivor forgot the node (null: not within the cap), the
 * survivors that still listed it then, and how many had listed it just before the kill (a node
 * nobody knew would be "forgotten" at once, and prove nothing).
 */
export type Forgetting = {
  node: string;
  seconds: number | null;
  rememberedBy: string[];
  knownBefore: number;
};

/** How many running nodes besides `node` list it as a neighbour or in their address book. */
export async function knownBy(cluster: ChaosCluster, node: ChaosNode): Promise<number> {
  const others = cluster.nodes.filter((other) => other.running && other !== node);
  const lists = await Promise.all(others.map((other) => peerIds(cluster, other)));
  return lists.filter((ids) => ids?.has(node.id)).length;
}

/** Polls the survivors until none lists any of `dead`, or `capMs` after `killedAt`. */
export async function measureForgetting(
  cluster: ChaosCluster,
  dead: readonly { node: ChaosNode; knownBefore: number }[],
  killedAt: number,
  capMs: number,
  progress: Progress,
): Promise<Forgetting[]> {
  const survivors = cluster.nodes.filter((node) =>
    node.running && !dead.some((entry) => entry.node === node)
  );
  const remembering = new Map(dead.map(({ node }) => [node.id, new Set<string>()]));
  const results = new Map<string, Forgetting>();
  while (results.size < dead.length) {
    for (const set of remembering.values()) set.clear();
    await Promise.all(survivors.map(async (survivor) => {
      const known = await peerIds(cluster, survivor);
      for (const [id, set] of remembering) {
        // A survivor that does not answer has not shown that it forgot.
        if (!known || known.has(id)) set.add(survivor.name);
      }
    }));
    const elapsed = Date.now() - killedAt;
    for (const { node, knownBefore } of dead) {
      if (results.has(node.name)) continue;
      const by = [...remembering.get(node.id)!];
      if (by.length === 0) {
        const seconds = elapsed / 1_000;
        results.set(node.name, { node: node.name, seconds, rememberedBy: [], knownBefore });
        progress(
          `every survivor forgot ${node.name} ${(elapsed / 1_000).toFixed(1)} s after its kill`,
        );
      } else if (elapsed > capMs) {
        results.set(node.name, {
          node: node.name,
          seconds: null,
          rememberedBy: by.sort(),
          knownBefore,
        });
        progress(`${node.name} still known ${capMs / 1_000} s after its kill by ${by.join(", ")}`);
      }
    }
    if (results.size < dead.length) await sleep(FORGET_POLL_MS);
  }
  return dead.map(({ node }) => results.get(node.name)!);
}

/** The ids a node lists as neighbours or in its address book; undefined when it does not answer. */
async function peerIds(cluster: ChaosCluster, node: ChaosNode): Promise<Set<string> | undefined> {
  const client = new ApiClient({ baseUrl: cluster.url(node), timeoutMs: 10_000 });
  try {
    const [active, global] = await Promise.all([client.peers(), client.globalPeers()]);
    return new Set([...active.peers, ...global.peers].map((peer) => peer.id));
  } catch {
    return undefined;
  }
}

export type RentalFinding = { rental_id: number; gpu: string; problem: string };

/** Each rental made, read back from the seed's ledger; what is missing or changed wrongly. */
export async function auditRentals(
  cluster: ChaosCluster,
  rentals: readonly RentalMade[],
): Promise<RentalFinding[]> {
  const seed = new ApiClient({ baseUrl: cluster.url(cluster.seed) });
  const findings: RentalFinding[] = [];
  for (const { rental: made, renter, gpu } of rentals) {
    const problem = await seed.rental(made.rental_id).then(
      async (now) =>
        rentalChange(made, now) ??
          ((await seed.lease(gpu.id, renter.pair.address)).renting
            ? undefined
            : `${renter.name} no longer rents ${gpu.name}`),
      (error) => `not readable: ${(error as Error).message}`,
    );
    if (problem) findings.push({ rental_id: made.rental_id, gpu: gpu.name, problem });
  }
  return findings;
}

/** How `now` differs from the rental as `made`, beyond what outages may change; undefined: not. */
export function rentalChange(made: Rental, now: Rental): string | undefined {
  for (
    const field of ["rental_id", "machine_id", "renter", "starts_at", "total_amount"] as const
  ) {
    if (now[field] !== made[field]) return `${field} was ${made[field]}, is ${now[field]}`;
  }
  if (JSON.stringify(now.payments) !== JSON.stringify(made.payments)) {
    return `payments were ${JSON.stringify(made.payments)}, are ${JSON.stringify(now.payments)}`;
  }
  if (now.ends_at < made.ends_at) return `ends_at moved earlier: ${made.ends_at} -> ${now.ends_at}`;
  if (now.state !== "active") return `state ${now.state}`;
  return undefined;
}

export type InstanceFinding = { id: string; gpu: string; renter: string; problem: string };

/** Every instance a renter saw made and never deleted, looked up on its GPU node and engine. */
export async function auditInstances(
  cluster: ChaosCluster,
  loops: readonly { loop: RenterLoop; made: RentalMade }[],
): Promise<{ checked: number; lost: InstanceFinding[] }> {
  const engine = new DockerEngine(DOCKER_SOCKET);
  const lost: InstanceFinding[] = [];
  let checked = 0;
  try {
    for (const { loop, made } of loops) {
      const kept = [...loop.instances.values()].filter((instance) =>
        instance.made && !instance.deleteSent
      );
      if (kept.length === 0) continue;
      if (!made.gpu.running) {
        // It did not come back (restart_failures says so): nothing there can be shown kept.
        for (const instance of kept) {
          lost.push({
            id: instance.id,
            gpu: made.gpu.name,
            renter: made.renter.name,
            problem: "its GPU node is not running",
          });
        }
        checked += kept.length;
        continue;
      }
      const client = new ApiClient({ baseUrl: cluster.url(made.gpu), signer: made.renter.pair });
      const engineIds = new Set(
        (await engine.listContainers([`dbc.node=${made.gpu.id}`]))
          .map((container) => container.labels["dbc.instance"]),
      );
      for (const instance of kept) {
        checked++;
        const finding = (problem: string) =>
          lost.push({ id: instance.id, gpu: made.gpu.name, renter: made.renter.name, problem });
        const record = await untilAnswered(() => client.getContainer(made.gpu.id, instance.id))
          .catch((error: Error) => error);
        if (record instanceof Error) finding(`not readable: ${record.message}`);
        else if (record.state !== "running" && record.state !== "stopped") {
          finding(`state ${record.state}${record.last_error ? `: ${record.last_error}` : ""}`);
        } else if (!engineIds.has(instance.id)) finding("no engine container");
      }
    }
  } finally {
    engine.close();
  }
  return { checked, lost };
}

/** Retries while the node is still starting (a clear "not now": 503, 504, refused connection). */
async function untilAnswered<T>(call: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + AUDIT_RETRY_MS;
  while (true) {
    try {
      return await call();
    } catch (error) {
      const notNow = error instanceof ApiClientError &&
        (error.kind === "unreachable" || error.status === 503 || error.status === 504);
      if (!notNow || Date.now() > deadline) throw error;
      await sleep(1_000);
    }
  }
}

/** Deletes what the renters left, through each GPU node itself (best effort; the sweep follows). */
export async function deleteLeftovers(
  cluster: ChaosCluster,
  rentals: readonly RentalMade[],
): Promise<void> {
  await Promise.all(rentals.map(async ({ renter, gpu }) => {
    if (!gpu.running) return;
    const client = new ApiClient({ baseUrl: cluster.url(gpu), signer: renter.pair });
    const listed = await untilAnswered(() => client.listContainers(gpu.id))
      .catch(() => ({ containers: [] }));
    for (const container of listed.containers) {
      await client.containerAction(gpu.id, container.id, "delete").catch(() => {});
    }
  }));
}
