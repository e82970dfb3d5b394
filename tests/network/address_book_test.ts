import assert from "node:assert/strict";
import { AddressBook, type PeerEntry } from "../../network/mod.ts";

const SELF = "12D3KooWLNDhWRc1VNwjKGS69Qbu2i4SVKh6aZW3HEc9T5pTGH5k";
const id = (index: number) => `12D3KooW${String(index).padStart(44, "A").replaceAll("0", "o")}`;

function book(linked: Set<string> = new Set(), sizes: { maxNew?: number; maxTried?: number } = {}) {
  return new AddressBook({
    selfId: SELF,
    expiryMs: 60_000,
    departureAnnounceMs: 20_000,
    departureTtlMs: 80_000,
    isLinked: (peer) => linked.has(peer),
    random: () => 0.42,
    ...sizes,
  });
}

const entry = (index: number, overrides: Partial<PeerEntry> = {}): PeerEntry => ({
  id: id(index),
  addr: `10.0.0.${index}:5001`,
  role: "gpu",
  inc: 100,
  age: 0,
  ...overrides,
});

Deno.test("a departure drops the entry and refuses stale reports of it, but not a newer incarnation", () => {
  const addresses = book();
  assert.equal(addresses.learn(entry(1), 1_000), "added");
  assert.equal(addresses.recordDeparture(id(1), 100, 2_000), true);
  assert.equal(addresses.get(id(1)), undefined);
  assert.equal(addresses.recordDeparture(id(1), 100, 2_500), false, "not news twice");
  assert.equal(addresses.learn(entry(1), 3_000), "refused");
  assert.equal(addresses.learn(entry(1, { inc: 99 }), 3_000), "refused");
  // It restarted (or refuted a false report): a higher incarnation outranks the departure.
  assert.equal(addresses.learn(entry(1, { inc: 101 }), 3_000), "added");
});

Deno.test("departures are handed to each neighbour once, after its mark, while they are announced", () => {
  const addresses = book();
  addresses.recordDeparture(id(1), 1, 1_000);
  addresses.recordDeparture(id(2), 1, 2_000);
  const first = addresses.departuresSince(0, 3_000, 10);
  assert.deepEqual(first.departures.map((d) => d.id), [id(1), id(2)]);
  assert.deepEqual(first.departures.map((d) => d.age), [2_000, 1_000]);
  assert.deepEqual(addresses.departuresSince(first.mark, 3_000, 10).departures, []);
  addresses.recordDeparture(id(3), 1, 3_500);
  assert.deepEqual(
    addresses.departuresSince(first.mark, 4_000, 10).departures.map((d) => d.id),
    [id(3)],
  );
  // A limit leaves the rest for next time.
  const limited = addresses.departuresSince(0, 4_000, 2);
  assert.equal(limited.departures.length, 2);
  assert.deepEqual(
    addresses.departuresSince(limited.mark, 4_000, 2).departures.map((d) => d.id),
    [id(3)],
  );
  // Past the announce window they are no longer sent, but still refuse stale entries.
  assert.deepEqual(addresses.departuresSince(0, 30_000, 10).departures, []);
  assert.equal(addresses.learn(entry(1, { inc: 1 }), 30_000), "refused");
  addresses.expire(100_000);
  assert.equal(addresses.departureCount, 0);
});

Deno.test("a gap leaves out the departures that happened within it, whenever they were learned", () => {
  const addresses = book();
  addresses.recordDeparture(id(1), 1, 5_000);
  addresses.recordDeparture(id(2), 1, 11_000);
  // Learned late, but it happened at 12,000 (a neighbour passed it on 9,000 ms old).
  addresses.learnDeparture({ id: id(3), inc: 1, age: 9_000, sig: "c2ln" }, 21_000);
  addresses.recordDeparture(id(4), 1, 21_500);
  const all = addresses.departuresSince(0, 22_000, 10);
  assert.deepEqual(all.departures.map((d) => d.id), [id(1), id(2), id(3), id(4)]);
  const gapped = addresses.departuresSince(0, 22_000, 10, { after: 10_000, upTo: 20_000 });
  assert.deepEqual(gapped.departures.map((d) => d.id), [id(1), id(4)]);
  assert.equal(gapped.mark, all.mark, "the mark moves past what was left out");
});

Deno.test("a reported departure carries its age, and an old one is ignored", () => {
  const addresses = book();
  addresses.learn(entry(1), 0);
  assert.equal(addresses.learnDeparture({ id: id(1), inc: 100, age: 500 }, 10_000), true);
  assert.equal(addresses.departure(id(1))?.at, 9_500);
  assert.equal(addresses.learnDeparture({ id: id(2), inc: 1, age: 90_000 }, 100_000), false);
  assert.equal(addresses.learnDeparture({ id: SELF, inc: 1, age: 0 }, 100_000), false);
});

Deno.test("gossip fills the new table only up to its bound and never pushes out tried entries", () => {
  const addresses = book(new Set(), { maxNew: 8, maxTried: 4 });
  for (let index = 1; index <= 4; index++) {
    addresses.noteLinked({
      id: id(index),
      address: `10.0.0.${index}:1`,
      role: "gpu",
      incarnation: 1,
    }, 0);
  }
  for (let index = 100; index < 1_100; index++) addresses.learn(entry(index), 1_000);
  assert.equal(addresses.size, 12);
  for (let index = 1; index <= 4; index++) assert.ok(addresses.get(id(index))?.tried);
});

Deno.test("unspecified addresses, our own id and expired reports are refused", () => {
  const addresses = book();
  assert.equal(addresses.learn(entry(1, { addr: "0.0.0.0:5001" }), 0), "refused");
  assert.equal(addresses.learn(entry(2, { addr: "[::]:5001" }), 0), "refused");
  assert.equal(addresses.learn({ ...entry(3), id: SELF }, 0), "refused");
  assert.equal(addresses.learn(entry(4, { age: 70_000 }), 100_000), "refused");
});

Deno.test("failed dials back off, and an entry that keeps failing is forgotten", () => {
  const addresses = book();
  addresses.learn(entry(1), 0);
  assert.equal(addresses.dialFailed(id(1), 1_000), false);
  const retryAt = addresses.get(id(1))!.retryAt;
  assert.ok(retryAt > 1_000);
  assert.deepEqual(addresses.dialCandidates(1, 1_500, () => false), []);
  assert.equal(addresses.dialCandidates(1, retryAt, () => false).length, 1);
  for (let attempt = 2; attempt < 5; attempt++) addresses.dialFailed(id(1), 2_000);
  assert.equal(addresses.dialFailed(id(1), 3_000), true);
  assert.equal(addresses.get(id(1)), undefined);
});

Deno.test("entries nobody vouched for within the expiry are dropped, linked ones are kept", () => {
  const linked = new Set([id(2)]);
  const addresses = book(linked);
  addresses.learn(entry(1), 0);
  addresses.noteLinked({ id: id(2), address: "10.0.0.2:1", role: "seed", incarnation: 1 }, 0);
  addresses.expire(61_000);
  assert.equal(addresses.get(id(1)), undefined);
  assert.ok(addresses.get(id(2)));
});
