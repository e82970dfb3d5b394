/**
 * What `synchronous = FULL` costs the databases that use it (mod/sqlite.ts, `Durability`):
 * single-row commits a second into a WAL database on the data directory's disk, FULL against
 * NORMAL, alternated over several runs. Prints one JSON line:
 * `{"commits_per_run", "runs", "full_commits_per_s", "normal_commits_per_s", "full_over_normal"}`
 * with medians.
 *
 *   deno run --allow-read --allow-write bench_durability.ts [--runs 5] [--commits 2000] [--dir D]
 */
import { parseArgs } from "node:util";
import { type Durability, openDatabase } from "../mod/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "5" },
    commits: { type: "string", default: "2000" },
    dir: { type: "string", default: "." },
  },
});
const RUNS = Number(values.runs);
const COMMITS = Number(values.commits);

function commitsPerSecond(dir: string, durability: Durability): number {
  const path = `${dir}/bench-${durability}-${crypto.randomUUID()}.db`;
  const db = openDatabase(path, [{
    version: 1,
    name: "rows",
    sql: "CREATE TABLE rows (id INTEGER PRIMARY KEY, body TEXT NOT NULL)",
  }], { durability });
  try {
    const insert = db.prepare("INSERT INTO rows (body) VALUES (?)");
    const started = performance.now();
    // Each statement outside a transaction is its own commit, as each ledger write is.
    for (let index = 0; index < COMMITS; index++) insert.run(`row ${index}`);
    return COMMITS / ((performance.now() - started) / 1_000);
  } finally {
    db.close();
    // Closing checkpoints and removes the WAL files; the directory goes at the end.
    Deno.removeSync(path);
  }
}

function median(numbers: number[]): number {
  const sorted = [...numbers].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const dir = await Deno.makeTempDir({ dir: values.dir, prefix: ".bench-durability-" });
try {
  const full: number[] = [];
  const normal: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    full.push(commitsPerSecond(dir, "full"));
    normal.push(commitsPerSecond(dir, "normal"));
  }
  const fullMedian = median(full);
  const normalMedian = median(normal);
  console.log(JSON.stringify({
    commits_per_run: COMMITS,
    runs: RUNS,
    full_commits_per_s: Math.round(fullMedian),
    normal_commits_per_s: Math.round(normalMedian),
    full_over_normal: Number((fullMedian / normalMedian).toFixed(3)),
  }));
} finally {
  await Deno.remove(dir, { recursive: true });
}
