/** The original's units and words, as pure functions. */
import assert from "node:assert/strict";
import { localTime, scaleSize, sizeInGib, taskStatus } from "../../http/compat/answers.ts";

Deno.test("sizes as the original's scale_size prints them", () => {
  const MIB = 2 ** 20;
  const GIB = 2 ** 30;
  assert.equal(sizeInGib(32 * GIB), "32G");
  assert.equal(sizeInGib(256 * MIB), "256M");
  assert.equal(sizeInGib(1.5 * GIB), "1.5G");
  assert.equal(sizeInGib(4096 * GIB), "4096G");
  assert.equal(scaleSize(4096 * GIB), "4T");
  assert.equal(scaleSize(3 * GIB + 123 * MIB), "3.12G");
  assert.equal(scaleSize(0), "0K");
});

Deno.test("times in local time, YYYY-MM-DD HH:MM:SS; statuses in the original's words", () => {
  const at = new Date(2022, 5, 12, 14, 3, 4).getTime();
  assert.equal(localTime(at), "2022-06-12 14:03:04");
  assert.equal(taskStatus("stopped"), "closed");
  assert.equal(taskStatus("expired"), "closed");
  assert.equal(taskStatus("failed"), "create error");
  assert.equal(taskStatus("running"), "running");
});
