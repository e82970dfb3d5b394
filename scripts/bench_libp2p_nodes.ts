/**
 * Why the simulation runs the protocol code over in-memory links rather than
 * real libp2p nodes (issue #14): the heap one real node of this project's
 * libp2p stack costs (WebSockets, Noise, Yamux, identify, ping: network/
 * libp2p_node.ts), each with `--links` open links to others on loopback,
 * measured in one process after garbage collection, and what 10,000 of them
 * would take. @libp2p/kad-dht would add its routing table, its providers'
 * datastore and its protocol streams on top of that.
 *
 *   deno run -A --v8-flags=--expose-gc scripts/bench_libp2p_nodes.ts [--nodes 40] [--links 8]
 *
 * Prints one JSON line: nodes, links_per_node, heap_mib_per_node, rss_mib_per_node,
 * heap_gib_for_10000, and the simulation's own heap per node for comparison.
 */
import { parseArgs } from "node:util";
import { generateNodeKeys, silentLogger } from "../mod/mod.ts";
import { Libp2pTransport } from "../network/libp2p_node.ts";
import type { Link } from "../network/mod.ts";
import { freePort } from "../tests/helpers.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { nodes: { type: "string", default: "40" }, links: { type: "string", default: "8" } },
});
const NODES = Number(values.nodes);
const LINKS = Number(values.links);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --v8-flags=--expose-gc");

const settle = async () => {
  for (let round = 0; round < 3; round++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return Deno.memoryUsage();
};
const mib = (bytes: number) => bytes / 2 ** 20;

const before = await settle();
const transports: Libp2pTransport[] = [];
const links: Link[] = [];
const ports: number[] = [];
const ids: string[] = [];
for (let index = 0; index < NODES; index++) {
  const keys = generateNodeKeys();
  const port = freePort();
  transports.push(
    await Libp2pTransport.start({
      seed: keys.privateKey,
      publicKey: keys.publicKey,
      nodeId: keys.nodeId,
      listenHost: "127.0.0.1",
      listenPort: port,
      maxConnections: 4 * LINKS,
      log: silentLogger,
      onInbound: (link) => {
        links.push(link);
        link.attach({ message: () => {}, malformed: () => {}, closed: () => {} });
      },
    }),
  );
  ports.push(port);
  ids.push(keys.nodeId);
}
for (let index = 0; index < NODES; index++) {
  for (let step = 1; step <= LINKS / 2; step++) {
    const other = (index + step) % NODES;
    const link = await transports[index]!.dial(`127.0.0.1:${ports[other]}`, ids[other], 10_000);
    link.attach({ message: () => {}, malformed: () => {}, closed: () => {} });
    links.push(link);
  }
}
const after = await settle();
const heapPerNode = mib(after.heapUsed - before.heapUsed) / NODES;
const rssPerNode = mib(after.rss - before.rss) / NODES;
await Promise.all(transports.map((transport) => transport.stop()));
console.log(JSON.stringify({
  nodes: NODES,
  links_per_node: LINKS,
  open_links: links.length,
  heap_mib_per_node: Math.round(heapPerNode * 100) / 100,
  rss_mib_per_node: Math.round(rssPerNode * 100) / 100,
  heap_gib_for_10000: Math.round((heapPerNode * 10_000) / 1024 * 10) / 10,
  rss_gib_for_10000: Math.round((rssPerNode * 10_000) / 1024 * 10) / 10,
}));
Deno.exit(0);
