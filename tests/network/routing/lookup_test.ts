/** Kademlia's pieces without I/O: the XOR metric, k-buckets, and one lookup's steps. */
import assert from "node:assert/strict";
import {
  commonPrefixBits,
  compareDistance,
  Lookup,
  routingKey,
  RoutingTable,
} from "../../../network/routing/mod.ts";

const id = (index: number) => `node-${index}`;
const contact = (index: number) => ({ id: id(index), address: `10.0.0.${index}:5001` });

Deno.test("XOR distance orders keys; a key shares every bit with itself", () => {
  const a = routingKey("a");
  const b = routingKey("b");
  assert.equal(commonPrefixBits(a, a), 256);
  assert.equal(compareDistance(a, b, a) < 0, true);
  assert.equal(compareDistance(b, a, a) > 0, true);
  assert.equal(compareDistance(a, a, b), 0);
  const x = Uint8Array.from([0b0001_0000, ...new Array(31).fill(0)]);
  const y = Uint8Array.from([0b0000_0000, ...new Array(31).fill(0)]);
  assert.equal(commonPrefixBits(x, y), 3);
});

Deno.test("a full bucket keeps its contacts unless the oldest is stale; closest sorts by distance", () => {
  const table = new RoutingTable("self", 2);
  // Many contacts: buckets near the top fill first (half of all keys share no bit with ours).
  for (let index = 0; index < 200; index++) table.heardFrom(contact(index), 0);
  assert.ok(table.size < 200, "bounded by the bucket size");
  const before = table.size;
  for (let index = 200; index < 260; index++) table.heardFrom(contact(index), 1_000);
  assert.ok(table.size <= before + 60);
  const target = routingKey(id(7));
  const closest = table.closest(target, 5);
  for (let index = 1; index < closest.length; index++) {
    assert.ok(
      compareDistance(routingKey(closest[index - 1]!.id), routingKey(closest[index]!.id), target) <=
        0,
    );
  }
  table.remove(closest[0]!.id);
  assert.equal(table.get(closest[0]!.id), undefined);
});

Deno.test("a lookup asks three at a time, nearest first, and ends on the target or when the k nearest answered", () => {
  const initial = Array.from({ length: 10 }, (_, index) => contact(index));
  const lookup = new Lookup({ selfId: "self", targetId: id(99) }, initial);
  const first = lookup.next();
  assert.equal(first.length, 3);
  assert.equal(lookup.next().length, 0, "no more than three in flight");
  lookup.failed(first[0]!.id);
  lookup.answered(first[1]!.id, [contact(50), { id: "self", address: "x:1" }]);
  lookup.answered(first[2]!.id, []);
  assert.equal(lookup.done, false);
  const second = lookup.next();
  assert.ok(second.length > 0);
  lookup.answered(second[0]!.id, [contact(99)]);
  assert.equal(lookup.done, true, "paused: an address to dial");
  assert.equal(lookup.takeTargetAddress(), contact(99).address);
  assert.equal(lookup.done, false, "that address failed: the lookup goes on");
  const third = lookup.next();
  assert.ok(third.length > 0);
  // A second address (a liar's, say) and the first again: only the new one is offered.
  lookup.answered(third[0]!.id, [contact(99), { id: id(99), address: "10.9.9.9:5001" }]);
  assert.equal(lookup.takeTargetAddress(), "10.9.9.9:5001");
  assert.equal(lookup.takeTargetAddress(), undefined);

  const exhausted = new Lookup({ selfId: "self", targetId: id(98), bucketSize: 2 }, initial);
  for (let round = 0; round < 10 && !exhausted.done; round++) {
    for (const asked of exhausted.next()) exhausted.answered(asked.id, []);
  }
  assert.equal(exhausted.done, true);
  assert.equal(exhausted.found, false);
  assert.ok(exhausted.queries <= 4, "the two nearest answered, plus what was in flight");
});

Deno.test("a lookup makes at most its query budget, whatever the answers say", () => {
  const lookup = new Lookup({ selfId: "self", targetId: "far", maxQueries: 5 }, [contact(0)]);
  let next = 1;
  while (!lookup.done) {
    for (const asked of lookup.next()) {
      lookup.answered(asked.id, [contact(next++), contact(next++)]);
    }
  }
  assert.equal(lookup.queries, 5);
});
