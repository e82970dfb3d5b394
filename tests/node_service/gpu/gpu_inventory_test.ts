/**
 * GPU inventory: nvidia-smi parsing against recorded-style output (1 GPU,
 * 8 GPUs, a GPU whose fields read `[Unknown Error]` / `[N/A]`), and the real
 * query path run in a subprocess with a stand-in `nvidia-smi` first on PATH.
 *
 * No GPU machine was lent while these fixtures were written; they follow
 * nvidia-smi's `--format=csv,noheader,nounits` layout field for field.
 */
import assert from "node:assert/strict";
import { parseGpuCsv } from "../../../node_service/gpu/inventory.ts";
import { DENO_BIN, REPO_ROOT, scratchDir, writeScript } from "../../helpers.ts";

const fixture = (name: string) =>
  Deno.readTextFileSync(new URL(`../../fixtures/nvidia-smi/${name}`, import.meta.url));

Deno.test("nvidia-smi: one GPU", () => {
  assert.deepEqual(parseGpuCsv(fixture("one_rtx4090.csv")), [{
    index: 0,
    uuid: "GPU-5b1c2f3e-8a7d-4e62-9c0b-1f2e3d4c5b6a",
    name: "NVIDIA GeForce RTX 4090",
    pci_bus_id: "00000000:01:00.0",
    memory_total_mib: 24564,
    memory_used_mib: 1,
    utilization_percent: 0,
    temperature_c: 34,
    driver_version: "550.54.14",
  }]);
});

Deno.test("nvidia-smi: eight GPUs, in index order, each with its own bus id", () => {
  const gpus = parseGpuCsv(fixture("eight_a100.csv"));
  assert.equal(gpus.length, 8);
  assert.deepEqual(gpus.map((gpu) => gpu.index), [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.equal(new Set(gpus.map((gpu) => gpu.pci_bus_id)).size, 8);
  assert.equal(new Set(gpus.map((gpu) => gpu.uuid)).size, 8);
  assert.equal(gpus[7]!.pci_bus_id, "00000000:BD:00.0");
  assert.ok(
    gpus.every((gpu) => gpu.name === "NVIDIA A100-SXM4-80GB" && gpu.memory_total_mib === 81920),
  );
});

Deno.test("nvidia-smi: a GPU with error fields keeps its identity, its unknown numbers become null", () => {
  const [healthy, broken] = parseGpuCsv(fixture("error_fields.csv"));
  assert.equal(healthy!.memory_total_mib, 32768);
  assert.equal(broken!.uuid, "GPU-8d7c6b5a-4938-4271-90af-b8c7d6e5f4a3");
  assert.equal(broken!.pci_bus_id, "00000000:1C:00.0");
  assert.equal(broken!.memory_total_mib, null);
  assert.equal(broken!.memory_used_mib, null);
  assert.equal(broken!.utilization_percent, null);
  assert.equal(broken!.temperature_c, null);
  assert.equal(broken!.driver_version, "470.256.02");
});

Deno.test("the inventory runs nvidia-smi from PATH and reports what it printed", async () => {
  const dir = await scratchDir("gpu-inventory");
  try {
    await writeScript(
      `${dir}/nvidia-smi`,
      `case "$*" in *--query-gpu=index,uuid,name,pci.bus_id,*--format=csv,noheader,nounits*) cat '${REPO_ROOT}/tests/fixtures/nvidia-smi/eight_a100.csv';; *) echo "unexpected: $*" >&2; exit 2;; esac`,
    );
    await Deno.mkdir(`${dir}/broken`);
    await writeScript(
      `${dir}/broken/nvidia-smi`,
      `echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver." ; exit 9`,
    );
    const probe = `
      import { GpuInventory } from "${REPO_ROOT}/node_service/gpu/inventory.ts";
      console.log(JSON.stringify(await new GpuInventory(() => 1).report(0)));`;
    const report = async (bin: string) => {
      const output = await new Deno.Command(DENO_BIN, {
        args: ["eval", "--quiet", probe],
        env: { PATH: `${bin}:/usr/bin:/bin` },
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
      return JSON.parse(new TextDecoder().decode(output.stdout));
    };
    const present = await report(dir);
    assert.equal(present.state, "present");
    assert.equal(present.gpus.length, 8);
    const failing = await report(`${dir}/broken`);
    assert.equal(failing.state, "error");
    assert.match(failing.reason, /exited with code 9: NVIDIA-SMI has failed/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
