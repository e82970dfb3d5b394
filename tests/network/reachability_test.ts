/**
 * Reachability behind NAT, the pure parts (network/nat.ts, network/address.ts)
 * and the protocol's side: a node's new address (a relay circuit) reaches its
 * neighbours' books at once and is gossiped from there.
 */
import assert from "node:assert/strict";
import {
  advertisedAddress,
  circuitAddress,
  isCircuitAddress,
  seenBehindNat,
} from "../../network/nat.ts";
import { isAddress, splitAddress } from "../../network/address.ts";
import { toMultiaddr } from "../../network/libp2p_node.ts";
import { AddressBook, decodeWireMessage } from "../../network/mod.ts";
import { SimCluster } from "../../scripts/sim/cluster.ts";

const SELF = "12D3KooWSourTF76tVvSpWBDN4Qo7MsYGyrZseZu7mSPEboXXdf4";
const RELAY = "12D3KooWFYF23Y5W1Cf1syaULTtiqGA5UjyJ94K8MEszkH872nEd";
const RELAY_2 = "12D3KooWFoanSAima1PULeNYh2Wbo131n7iJFGdQBWLnprroyzxs";
const CIRCUIT = `/ip4/203.0.113.7/tcp/5001/ws/p2p/${RELAY}/p2p-circuit/p2p/${SELF}`;

Deno.test("a node is behind a NAT when a peer it dialled saw it at an IP that is not its own", () => {
  const own = new Set(["10.232.0.11"]);
  assert.equal(seenBehindNat("/ip4/198.51.100.2/tcp/40000/ws", own), true);
  assert.equal(seenBehindNat("/ip4/10.232.0.11/tcp/40000/ws", own), false);
  assert.equal(seenBehindNat("/ip6/::ffff:10.232.0.11/tcp/1/ws", own), false);
  // Nothing to judge by: no verdict.
  assert.equal(seenBehindNat("/dns4/example.org/tcp/1/ws", own), false);
});

Deno.test("only a confirmed address is advertised: where peers see it, a relay circuit, or none yet", () => {
  const relays = [{ relayId: RELAY, reachedAt: "/ip4/203.0.113.7/tcp/5001/ws" }];
  // Not behind a NAT, or AutoNAT confirmed a public address: peers dial what they see.
  assert.equal(
    advertisedAddress(SELF, { behindNat: false, confirmedPublic: false, relays }),
    undefined,
  );
  assert.equal(
    advertisedAddress(SELF, { behindNat: true, confirmedPublic: true, relays }),
    undefined,
  );
  // Behind a NAT: the circuit through a relay it holds a slot on, WebSockets first.
  const tcpFirst = [
    { relayId: RELAY_2, reachedAt: "/ip4/203.0.113.8/tcp/6000" },
    ...relays,
  ];
  assert.equal(
    advertisedAddress(SELF, { behindNat: true, confirmedPublic: false, relays: tcpFirst }),
    CIRCUIT,
  );
  // The circuit advertised stays while its relay holds our slot, whatever came first.
  const second = `/ip4/203.0.113.8/tcp/6000/p2p/${RELAY_2}/p2p-circuit/p2p/${SELF}`;
  assert.equal(
    advertisedAddress(SELF, { behindNat: true, confirmedPublic: false, relays: tcpFirst }, second),
    second,
  );
  assert.equal(
    advertisedAddress(SELF, { behindNat: true, confirmedPublic: false, relays }, second),
    CIRCUIT,
  );
  // Behind a NAT with no relay: nothing to advertise.
  assert.equal(
    advertisedAddress(SELF, { behindNat: true, confirmedPublic: false, relays: [] }),
    null,
  );
  // The relay's own id in what we reached it at is not doubled.
  assert.equal(
    circuitAddress(
      { relayId: RELAY, reachedAt: `/ip4/203.0.113.7/tcp/5001/ws/p2p/${RELAY}` },
      SELF,
    ),
    CIRCUIT,
  );
  assert.equal(isCircuitAddress(CIRCUIT), true);
  assert.equal(isCircuitAddress("203.0.113.7:5001"), false);
});

Deno.test("an address is host:port or a multiaddr, bounded; both are dialled as multiaddrs", () => {
  for (const good of ["10.0.0.1:5001", "[fe80::1]:443", "seed.dbc.org:5001", CIRCUIT]) {
    assert.equal(isAddress(good), true, good);
  }
  for (
    const bad of [
      "",
      "no-port",
      "/ip4/1.2.3.4/tcp/1/ws/" + "a".repeat(300),
      "/ip4/1.2.3.4/udp/1/quic",
      "/ip4/1.2.3.4 /tcp/1",
      `${CIRCUIT}\n`,
    ]
  ) assert.equal(isAddress(bad), false, JSON.stringify(bad));
  assert.deepEqual(splitAddress(CIRCUIT), { host: "203.0.113.7", port: 5001 });
  assert.deepEqual(splitAddress("[fe80::1]:443"), { host: "fe80::1", port: 443 });
  assert.equal(toMultiaddr(CIRCUIT, SELF).toString(), CIRCUIT);
  assert.equal(
    toMultiaddr("10.0.0.1:5001", SELF).toString(),
    `/ip4/10.0.0.1/tcp/5001/ws/p2p/${SELF}`,
  );
  assert.equal(
    toMultiaddr(`/ip4/10.0.0.1/tcp/5001/ws`, SELF).toString(),
    `/ip4/10.0.0.1/tcp/5001/ws/p2p/${SELF}`,
  );
  // On the wire: a peer entry may carry a circuit; a longer or foreign address is refused.
  const entry = (addr: string) => ({
    t: "peers",
    peers: [{ id: SELF, addr, role: "gpu", inc: 1, age: 0 }],
    gone: [],
  });
  const decode = (addr: string) =>
    decodeWireMessage(new TextEncoder().encode(JSON.stringify(entry(addr)))).ok;
  assert.equal(decode(CIRCUIT), true);
  assert.equal(decode("/ip4/1.2.3.4/udp/1/quic"), false);
  assert.equal(decode(`/ip4/1.2.3.4/tcp/1/ws/p2p/${"x".repeat(300)}`), false);
});

Deno.test("a node's new address reaches its neighbours at once and spreads by gossip", async () => {
  const cluster = new SimCluster({
    seed: 3,
    config: {
      targetOutbound: 2,
      maxInbound: 6,
      exchangeIntervalMs: 1_000,
      pingIntervalMs: 500,
      pingMisses: 3,
    },
  });
  const seed = cluster.add({ role: "seed" });
  const nodes = [1, 2, 3, 4].map(() => cluster.add({ seeds: [seed.address] }));
  try {
    const joined = () => nodes.every((node) => node.peer.outboundCount >= 2);
    assert.ok(await cluster.clock.runUntil(joined, 250, 60_000) !== undefined);
    const natted = nodes[0]!;
    const circuit = `/ip4/203.0.113.7/tcp/5001/ws/p2p/${seed.id}/p2p-circuit/p2p/${natted.id}`;
    natted.peer.advertise(circuit);
    await cluster.clock.runFor(100);
    const neighbours = cluster.nodes.filter((node) => node.peer.isLinked(natted.id));
    assert.ok(neighbours.length > 0);
    for (const node of neighbours) {
      assert.equal(node.peer.book.get(natted.id)?.address, circuit, `${node.id} (a neighbour)`);
    }
    // A newcomer learns it at the circuit from the gossip of those who know it.
    const newcomer = cluster.add({ seeds: [neighbours[0]!.address] });
    await cluster.clock.runUntil(
      () => newcomer.peer.book.get(natted.id) !== undefined,
      250,
      30_000,
    );
    assert.equal(newcomer.peer.book.get(natted.id)?.address, circuit);
  } finally {
    for (const node of cluster.nodes) node.peer.stop();
  }
});

Deno.test("gossip replaces a known address only once a dial to it failed", () => {
  const book = new AddressBook({
    selfId: RELAY,
    expiryMs: 60_000,
    departureAnnounceMs: 20_000,
    departureTtlMs: 80_000,
    isLinked: () => false,
    random: () => 0.42,
  });
  const entry = (addr: string, age: number) => ({
    id: SELF,
    addr,
    role: "gpu" as const,
    inc: 1,
    age,
  });
  assert.equal(book.learn(entry("198.51.100.2:5001", 0), 1_000), "added");
  // Working as far as we know: a report of another address changes nothing.
  assert.equal(book.learn(entry(CIRCUIT, 0), 2_000), "updated");
  assert.equal(book.get(SELF)?.address, "198.51.100.2:5001");
  // Our dial failed there: fresher news of another address is taken, stale news is not.
  book.dialFailed(SELF, 3_000);
  assert.equal(book.learn(entry(CIRCUIT, 5_000), 4_000), "unchanged");
  assert.equal(book.get(SELF)?.address, "198.51.100.2:5001");
  assert.equal(book.learn(entry(CIRCUIT, 0), 4_000), "updated");
  assert.equal(book.get(SELF)?.address, CIRCUIT);
  // An unspecified host is never taken.
  book.dialFailed(SELF, 5_000);
  assert.equal(book.learn(entry("0.0.0.0:5001", 0), 6_000), "updated");
  assert.equal(book.get(SELF)?.address, CIRCUIT);
});
