/** The polling helper the process tests lean on: retries what may pass, stops at what cannot. */
import assert from "node:assert/strict";
import { GiveUp, waitFor } from "./helpers.ts";

Deno.test("waitFor retries through errors, but a GiveUp ends the wait at once", async () => {
  let calls = 0;
  assert.equal(
    await waitFor("a value", () => {
      calls++;
      if (calls < 3) throw new Error("not yet");
      return "ready";
    }, 5_000),
    "ready",
  );
  assert.equal(calls, 3);

  calls = 0;
  const startedAt = Date.now();
  await assert.rejects(
    waitFor("a process that exited", () => {
      calls++;
      throw new GiveUp("it exited");
    }, 60_000),
    GiveUp,
  );
  assert.equal(calls, 1);
  assert.ok(Date.now() - startedAt < 5_000);

  await assert.rejects(waitFor("nothing", () => undefined, 300), /timed out waiting for nothing/);
});
