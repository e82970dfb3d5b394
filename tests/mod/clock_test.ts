import assert from "node:assert/strict";
import { ManualClock } from "../../mod/mod.ts";

Deno.test("ManualClock fires timers in due order, ties in creation order, with now() at each due time", () => {
  const clock = new ManualClock(1_000);
  const fired: string[] = [];
  clock.setTimeout(() => fired.push(`b@${clock.now()}`), 200);
  clock.setTimeout(() => fired.push(`a@${clock.now()}`), 100);
  clock.setTimeout(() => fired.push(`c@${clock.now()}`), 200);
  clock.advance(150);
  assert.deepEqual(fired, ["a@1100"]);
  clock.advance(50);
  assert.deepEqual(fired, ["a@1100", "b@1200", "c@1200"]);
  assert.equal(clock.now(), 1_200);
  assert.equal(clock.pendingTimers, 0);
});

Deno.test("ManualClock runs timers that callbacks set within the same advance, and honours clearTimeout", () => {
  const clock = new ManualClock(0);
  const fired: number[] = [];
  const cancelled = clock.setTimeout(() => fired.push(-1), 10);
  clock.setTimeout(() => clock.setTimeout(() => fired.push(clock.now()), 30), 20);
  clock.clearTimeout(cancelled);
  clock.advance(100);
  assert.deepEqual(fired, [50]);
  assert.throws(() => clock.advance(-1), RangeError);
});

Deno.test("ManualClock sleep resolves on advance and rejects when aborted", async () => {
  const clock = new ManualClock(0);
  let woke = false;
  const sleeping = clock.sleep(10_000).then(() => (woke = true));
  await clock.advanceAsync(9_999);
  assert.equal(woke, false);
  await clock.advanceAsync(1);
  await sleeping;
  assert.equal(woke, true);

  const controller = new AbortController();
  const aborted = clock.sleep(5_000, controller.signal);
  controller.abort(new Error("stop"));
  await assert.rejects(aborted, /stop/);
  assert.equal(clock.pendingTimers, 0);
});
