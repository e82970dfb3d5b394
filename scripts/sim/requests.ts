/**
 * The simulation's request phase (issue #14): new client-ends join, then each
 * sends a first request to a random GPU node that is not its neighbour, then
 * a second. The cost of a request is counted at its client-end: a lookup is
 * iterative (the client-end sends every query and gets every answer itself)
 * and the request travels on a direct link, so the client-end's own `find`
 * and `call` sent plus `found` and `answer` received are every message the
 * request cost the network. Counting there, rather than network-wide, keeps
 * other nodes' background lookups (self-lookups on join and refresh) out of
 * the figure. Sealed messages the network floods are counted network-wide
 * as well, and must stay 0.
 */
import type { SimCluster, SimNode } from "./cluster.ts";

export type RequestFigures = {
  /** Median messages of a new client-end's first request to a GPU node, lookup included. */
  request_first_messages: number | null;
  /** Median messages of the next request to the same node. */
  request_next_messages: number | null;
  request_first_max_messages: number | null;
  /** Requests (first and next) that failed. */
  request_failures: number;
  /** Median lookup queries a first request made (0 when the address was already known). */
  request_lookup_queries: number | null;
  /**
   * Median new connections a first request opened (query links and the request link): over
   * libp2p each also costs its handshake (Noise XX, identify), which the messages above leave out.
   */
  request_first_dials: number | null;
};

/** Messages that belong to this node's own requests (see the module comment). */
function ownRequestMessages(node: SimNode): number {
  const { sent, received } = node.peer.messageCounts;
  return sent.find + sent.call + received.found + received.answer;
}

const median = (values: number[]) =>
  values.length ? [...values].sort((a, b) => a - b)[values.length >> 1]! : null;

export async function measureRequests(
  cluster: SimCluster,
  options: { samples: number; seeds: string[]; settleMs: number; timeoutMs: number },
): Promise<RequestFigures> {
  const { clock } = cluster;
  const gpus = cluster.alive.filter((node) => node.role === "gpu");
  const clients = Array.from(
    { length: options.samples },
    () => cluster.add({ role: "client", seeds: options.seeds }),
  );
  // Joined, linked, and the self-lookup on join done.
  await clock.runFor(options.settleMs);
  let failures = 0;
  const targets = clients.map((client) => {
    const candidates = gpus.filter((node) => node.alive && !client.peer.isLinked(node.id));
    return candidates[Math.floor(cluster.random() * candidates.length)]!;
  });
  const round = async () => {
    const before = clients.map(ownRequestMessages);
    const queriesBefore = clients.map((client) => client.peer.counters.lookup_queries);
    const dials = (client: SimNode) =>
      client.peer.counters.query_links_opened + client.peer.counters.request_links_opened;
    const dialsBefore = clients.map(dials);
    const outcomes = clients.map((client, index) =>
      client.peer.request(targets[index]!.id, { type: "node.ping" }, options.timeoutMs).then(
        () => true,
        () => false,
      )
    );
    await clock.runFor(options.timeoutMs);
    const settled = await Promise.all(outcomes);
    failures += settled.filter((ok) => !ok).length;
    return {
      messages: clients.map((client, index) => ownRequestMessages(client) - before[index]!)
        .filter((_, index) => settled[index]),
      queries: clients.map((client, index) =>
        client.peer.counters.lookup_queries - queriesBefore[index]!
      ),
      dials: clients.map((client, index) => dials(client) - dialsBefore[index]!),
    };
  };
  const first = await round();
  const next = await round();
  return {
    request_first_messages: median(first.messages),
    request_next_messages: median(next.messages),
    request_first_max_messages: first.messages.length ? Math.max(...first.messages) : null,
    request_failures: failures,
    request_lookup_queries: median(first.queries),
    request_first_dials: median(first.dials),
  };
}
