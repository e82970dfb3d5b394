/**
 * Peers' reports of departures (network/departure_reports.ts): each incarnation's report is
 * passed on once while it is remembered, however late its copies come, and a newer one no
 * sooner than a quiet period after the last.
 */
import assert from "node:assert/strict";
import { DepartureReports } from "../../network/mod.ts";

const ID = "12D3KooWAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA1";
const QUIET_MS = 30_000;
const REMEMBER_MS = 600_000;

function reports(): DepartureReports {
  return new DepartureReports({
    quietMs: QUIET_MS,
    rememberMs: REMEMBER_MS,
    maxTracked: 16,
    maxQueued: 16,
    checksPerS: 10,
    checkBurst: 10,
  }, 0);
}

Deno.test("a report is passed on once per incarnation while remembered, not again at each late copy", () => {
  const heard = reports();
  const gone = { id: ID, inc: 100, age: 0 };
  assert.equal(heard.hear(gone, "a", 1_000), true);
  assert.equal(heard.drain(1_000).length, 1);
  assert.equal(heard.hear(gone, "b", 2_000), false, "a second copy at once");
  // Late copies (a new link's list of departures carries it for rounds): still the same report.
  for (const at of [40_000, 100_000, 400_000]) {
    assert.equal(heard.hear(gone, "c", at), false, `a copy at ${at} ms`);
  }
  assert.equal(heard.drain(400_000).length, 0);
  assert.equal(heard.passedOnTo(gone, 500, 400_000), true, "links open before it have it");
  assert.equal(heard.passedOnTo(gone, 1_500, 400_000), false, "a link opened after has not");
  // Forgotten after its memory: heard again, it is news again.
  heard.expire(1_000 + REMEMBER_MS);
  assert.equal(heard.hear(gone, "d", 1_000 + REMEMBER_MS), true);
});

Deno.test("a newer incarnation's report is news, but not within the quiet period of the last", () => {
  const heard = reports();
  assert.equal(heard.hear({ id: ID, inc: 100, age: 0 }, "a", 1_000), true);
  // It restarted and went again: a report of the new life, too soon after the last one.
  assert.equal(heard.hear({ id: ID, inc: 200, age: 0 }, "b", 1_000 + QUIET_MS - 1), false);
  assert.equal(heard.hear({ id: ID, inc: 200, age: 0 }, "b", 1_000 + QUIET_MS), true);
  assert.equal(heard.reportedGone(ID, 200, 1_000 + QUIET_MS), true);
  // An older life's report is nothing new.
  assert.equal(heard.hear({ id: ID, inc: 150, age: 0 }, "c", 1_000 + 3 * QUIET_MS), false);
});

Deno.test("a reported node is checked once a report; a check the budget could not pay waits for a later copy", () => {
  const OTHER = `${ID.slice(0, -1)}2`;
  const heard = new DepartureReports({
    quietMs: QUIET_MS,
    rememberMs: REMEMBER_MS,
    maxTracked: 16,
    maxQueued: 16,
    checksPerS: 1,
    checkBurst: 1,
  }, 0);
  heard.hear({ id: ID, inc: 100, age: 0 }, "a", 0);
  heard.hear({ id: OTHER, inc: 100, age: 0 }, "a", 0);
  assert.equal(heard.check(OTHER, 0), "check");
  assert.equal(heard.check(ID, 0), "spent", "the one check there was went to the other node");
  assert.equal(heard.check(ID, 1_000), "check", "a later copy, once the budget has refilled");
  assert.equal(heard.check(ID, 5_000), "checked", "not dialled again for the same report");
  // A later life's report, after the quiet period: checked again.
  assert.equal(heard.hear({ id: ID, inc: 200, age: 0 }, "b", QUIET_MS), true);
  assert.equal(heard.check(ID, QUIET_MS), "check");
});
