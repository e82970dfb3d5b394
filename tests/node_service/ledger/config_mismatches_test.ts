/** What a validator's report is compared on: the GPU model only where there are GPUs to name. */
import assert from "node:assert/strict";
import { configMismatches } from "../../../node_service/ledger/validation.ts";

const DECLARED = {
  gpu_model: "NVIDIA GeForce RTX 4090",
  gpu_count: 2,
  cpu_model: "AMD EPYC 7763 64-Core Processor",
  cpu_cores: 64,
  memory_gib: 256,
  disk_gib: 2_000,
};
const SEEN = { ...DECLARED, memory_gib: 252, disk_gib: 1_990 };

Deno.test("a machine with GPUs: their model must match", () => {
  assert.deepEqual(configMismatches(DECLARED, { kind: "observed", observed: SEEN }), []);
  assert.deepEqual(
    configMismatches(DECLARED, {
      kind: "observed",
      observed: { ...SEEN, gpu_model: "NVIDIA GeForce RTX 3090" },
    }),
    ["gpu_model: declared NVIDIA GeForce RTX 4090, seen NVIDIA GeForce RTX 3090"],
  );
  // Case and spacing are not a different model.
  assert.deepEqual(
    configMismatches(DECLARED, {
      kind: "observed",
      observed: { ...SEEN, gpu_model: "  nvidia geforce   RTX 4090 " },
    }),
    [],
  );
});

Deno.test("a machine without GPUs: whatever names the model, only the count is checked", () => {
  const none = { ...DECLARED, gpu_model: "none", gpu_count: 0 };
  assert.deepEqual(
    configMismatches(none, {
      kind: "observed",
      observed: { ...SEEN, gpu_model: "none", gpu_count: 0 },
    }),
    [],
  );
  assert.deepEqual(
    configMismatches({ ...none, gpu_model: "-" }, {
      kind: "observed",
      observed: { ...SEEN, gpu_model: "1234:1111", gpu_count: 0 },
    }),
    [],
  );
  // A GPU where none was declared is still a mismatch, by count.
  assert.deepEqual(
    configMismatches(none, {
      kind: "observed",
      observed: { ...SEEN, gpu_model: "10de:2684", gpu_count: 1 },
    }),
    ["gpu_count: declared 0, seen 1"],
  );
  // GPUs declared and none seen: both the count and the model are wrong.
  assert.deepEqual(
    configMismatches(DECLARED, {
      kind: "observed",
      observed: { ...SEEN, gpu_model: "none", gpu_count: 0 },
    }),
    [
      "gpu_model: declared NVIDIA GeForce RTX 4090, seen none",
      "gpu_count: declared 2, seen 0",
    ],
  );
});

Deno.test("a failed check is one mismatch with its reason", () => {
  assert.deepEqual(configMismatches(DECLARED, { kind: "failed", reason: "no VM" }), [
    "check failed: no VM",
  ]);
});
