import { SimCluster } from "./scripts/sim/cluster.ts";
const c = new SimCluster({ seed: 7, crypto: "real", config: { targetOutbound: 2, maxInbound: 3, exchangeIntervalMs: 1000, pingIntervalMs: 500 } });
const seed = c.add({ role: "seed" });
for (let i = 1; i < 6; i++) c.add({ seeds: [seed.address] });
const t = await c.clock.runUntil(() => c.converged(), 250, 60_000);
console.log(t);
for (const n of c.nodes) console.log(n.id.slice(-5), n.peer.outboundCount, n.peer.inboundCount, n.peer.neighbourIds().map(x => x.slice(-5)).join(","), n.peer.book.size, JSON.stringify(n.peer.status().counters).slice(0, 300));
for (const n of c.nodes) n.peer.stop();
