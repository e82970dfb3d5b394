import { SimCluster } from "./scripts/sim/cluster.ts";
const [n, target, maxIn] = Deno.args.map(Number) as [number, number, number];
let fails = 0; const times: number[] = [];
for (let s = 1; s <= 200; s++) {
  const c = new SimCluster({ seed: s, config: { targetOutbound: target, maxInbound: maxIn, exchangeIntervalMs: 1000, pingIntervalMs: 500 } });
  const seed = c.add({ role: "seed" });
  for (let i = 1; i < n; i++) c.add({ seeds: [seed.address] });
  const t = await c.clock.runUntil(() => c.converged(), 250, 60_000);
  if (t === undefined) fails++; else times.push(t);
  for (const x of c.nodes) x.peer.stop();
}
times.sort((a, b) => a - b);
console.log({ n, target, maxIn, fails, median: times[times.length >> 1], max: times.at(-1) });
