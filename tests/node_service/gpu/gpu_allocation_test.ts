/**
 * GPU allocation over real SQLite files: one holder per GPU whatever the
 * number of connections, all-or-nothing requests, clear errors, and
 * allocations that survive closing and reopening the database.
 */
import assert from "node:assert/strict";
import { type DatabaseSync, openDatabase } from "../../../mod/mod.ts";
import { parseGpuCsv } from "../../../node_service/gpu/inventory.ts";
import { GpuAllocationError, GpuAllocator } from "../../../node_service/gpu/allocation.ts";
import { SERVICE_MIGRATIONS } from "../../../node_service/migrations.ts";
import { scratchDir } from "../../helpers.ts";

const EIGHT = parseGpuCsv(
  Deno.readTextFileSync(new URL("../../fixtures/nvidia-smi/eight_a100.csv", import.meta.url)),
);

async function withDb(work: (path: string, open: () => DatabaseSync) => Promise<void> | void) {
  const dir = await scratchDir("gpu-allocation");
  const opened: DatabaseSync[] = [];
  const path = `${dir}/node.db`;
  try {
    await work(path, () => {
      const db = openDatabase(path, SERVICE_MIGRATIONS);
      opened.push(db);
      return db;
    });
  } finally {
    for (const db of opened) if (db.isOpen) db.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function rejectsWith(kind: string, message: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof GpuAllocationError, String(error));
    assert.equal(error.kind, kind);
    assert.match(error.message, message);
    return true;
  };
}

Deno.test("a GPU held by one guest is refused to another, with the holder named", () =>
  withDb((_path, open) => {
    const gpus = new GpuAllocator(open(), () => 1000);
    const held = gpus.allocateGpus("vm-aaaaaaaaaa", "vm", { indexes: [2] }, EIGHT);
    assert.deepEqual(held.map((gpu) => gpu.gpu_index), [2]);
    assert.throws(
      () => gpus.allocateGpus("ctr-bbbbbbbb", "container", { indexes: [3, 2] }, EIGHT),
      rejectsWith(
        "conflict",
        /GPU 2 \(GPU-2c3d4e5f-3333-4c7d-8e1f-2a3b4c5d6e7f\) is held by vm vm-aaaaaaaaaa/,
      ),
    );
    // All or nothing: GPU 3 was not taken by the failed request.
    assert.deepEqual(gpus.list().map((gpu) => gpu.gpu_index), [2]);
    assert.throws(
      () => gpus.allocateGpus("vm-aaaaaaaaaa", "vm", { count: 1 }, EIGHT),
      rejectsWith("invalid", /already holds GPU 2/),
    );
  }));

Deno.test("counts pick the lowest free GPUs; too many is a conflict; unknown GPUs are not found", () =>
  withDb((_path, open) => {
    const gpus = new GpuAllocator(open(), () => 1);
    gpus.allocateGpus("vm-one", "vm", { indexes: [0, 1] }, EIGHT);
    const picked = gpus.allocateGpus("ctr-two", "container", { count: 3 }, EIGHT);
    assert.deepEqual(picked.map((gpu) => gpu.gpu_index), [2, 3, 4]);
    assert.throws(
      () => gpus.allocateGpus("vm-three", "vm", { count: 4 }, EIGHT),
      rejectsWith("conflict", /4 GPU\(s\) asked for; 3 of 8 free/),
    );
    assert.throws(
      () => gpus.allocateGpus("vm-four", "vm", { indexes: [9] }, EIGHT),
      rejectsWith("not_found", /GPU 9 is not on this node/),
    );
    assert.throws(
      () => gpus.allocateGpus("vm-five", "vm", { uuids: ["GPU-nope"] }, EIGHT),
      rejectsWith("not_found", /GPU GPU-nope is not on this node/),
    );
    assert.throws(
      () => gpus.allocateGpus("vm-six", "vm", { indexes: [5, 5] }, EIGHT),
      rejectsWith("invalid", /named twice/),
    );
    assert.throws(
      () => gpus.allocateGpus("vm-seven", "vm", { count: 1 }, []),
      rejectsWith("not_found", /has none/),
    );
    assert.deepEqual(gpus.allocateGpus("vm-eight", "vm", { count: 0 }, []), []);
    assert.equal(gpus.releaseGpus("ctr-two", "container"), 3);
    assert.equal(gpus.releaseGpus("ctr-two", "container"), 0);
    assert.deepEqual(
      gpus.allocateGpus("vm-nine", "vm", { uuids: [EIGHT[3]!.uuid] }, EIGHT).map((gpu) =>
        gpu.gpu_index
      ),
      [3],
    );
  }));

Deno.test("two connections racing for one GPU: exactly one wins, in process after process", async () => {
  await withDb(async (path, open) => {
    open(); // creates the schema
    // Separate processes, each with its own connection, all asking for GPU 0 at once.
    const script = `
      import { openDatabase } from "${new URL("../../../mod/mod.ts", import.meta.url).href}";
      import { GpuAllocator } from "${
      new URL("../../../node_service/gpu/allocation.ts", import.meta.url).href
    }";
      import { SERVICE_MIGRATIONS } from "${
      new URL("../../../node_service/migrations.ts", import.meta.url).href
    }";
      import { parseGpuCsv } from "${
      new URL("../../../node_service/gpu/inventory.ts", import.meta.url).href
    }";
      const inventory = parseGpuCsv(Deno.readTextFileSync(${
      JSON.stringify(new URL("../../fixtures/nvidia-smi/eight_a100.csv", import.meta.url).pathname)
    }));
      const db = openDatabase(${
      JSON.stringify(path)
    }, SERVICE_MIGRATIONS, { busyTimeoutMs: 30000 });
      try {
        new GpuAllocator(db, Date.now).allocateGpus(Deno.args[0], "vm", { indexes: [0] }, inventory);
        console.log("won");
      } catch (error) { console.log("lost: " + error.message); }
      db.close();`;
    const racers = ["vm-racer-1", "vm-racer-2", "vm-racer-3", "vm-racer-4"].map(async (id) => {
      const output = await new Deno.Command(Deno.execPath(), {
        args: ["eval", "--quiet", script, id],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
      return new TextDecoder().decode(output.stdout).trim();
    });
    const outcomes = await Promise.all(racers);
    assert.equal(outcomes.filter((outcome) => outcome === "won").length, 1, outcomes.join("\n"));
    for (const outcome of outcomes.filter((outcome) => outcome !== "won")) {
      assert.match(
        outcome,
        /^lost: GPU 0 \(GPU-0a1b2c3d-1111-4a5b-8c9d-0e1f2a3b4c5d\) is held by vm vm-racer-\d$/,
      );
    }
    const rows = new GpuAllocator(open(), Date.now).list();
    assert.equal(rows.length, 1);
  });
});

Deno.test("the schema itself refuses a second holder, whatever the code does", () =>
  withDb((_path, open) => {
    const db = open();
    const insert = db.prepare(
      `INSERT INTO gpu_allocations (gpu_uuid, gpu_index, pci_bus_id, instance_kind, instance_id, allocated_at)
       VALUES (?, 0, '00000000:07:00.0', ?, ?, 0)`,
    );
    insert.run("GPU-x", "vm", "vm-a");
    assert.throws(
      () => insert.run("GPU-x", "container", "ctr-b"),
      /UNIQUE constraint failed: gpu_allocations.gpu_uuid/,
    );
    assert.throws(() => insert.run("GPU-y", "pod", "p"), /CHECK constraint failed/);
  }));

Deno.test("allocations survive closing and reopening the database", () =>
  withDb((_path, open) => {
    const first = open();
    new GpuAllocator(first, () => 5).allocateGpus("vm-keep", "vm", { indexes: [6, 7] }, EIGHT);
    first.close();
    const gpus = new GpuAllocator(open(), () => 6);
    assert.deepEqual(gpus.heldBy("vm-keep", "vm").map((gpu) => [gpu.gpu_index, gpu.pci_bus_id]), [
      [6, "00000000:B7:00.0"],
      [7, "00000000:BD:00.0"],
    ]);
    assert.throws(
      () => gpus.allocateGpus("vm-other", "vm", { indexes: [7] }, EIGHT),
      rejectsWith("conflict", /held by vm vm-keep/),
    );
  }));
