/**
 * CPU time of processes, by thread, from Linux's /proc: what a benchmark needs
 * to say where a request's time goes across node processes and their workers
 * (a Deno worker runs on a thread named `worker-N`, in the order the node
 * starts them). Nanoseconds on the CPU come from each thread's `schedstat`;
 * threads that ended between two readings are not counted.
 *
 * @example
 * ```ts
 * const before = await cpuByThread({ gpu: gpuPid });
 * // ... the work ...
 * const spent = cpuSpent(before, await cpuByThread({ gpu: gpuPid })); // { "gpu worker-1": 12.5e6, ... }
 * ```
 */

/** Nanoseconds on the CPU so far, keyed `<label> <thread name>` (threads of one name summed). */
export type CpuReading = Map<string, number>;

export async function cpuByThread(processes: Record<string, number>): Promise<CpuReading> {
  const reading: CpuReading = new Map();
  for (const [label, pid] of Object.entries(processes)) {
    let tasks: string[];
    try {
      tasks = [];
      for await (const entry of Deno.readDir(`/proc/${pid}/task`)) tasks.push(entry.name);
    } catch {
      continue; // Not Linux, or the process is gone: nothing to say about it.
    }
    for (const tid of tasks) {
      try {
        const [comm, schedstat] = await Promise.all([
          Deno.readTextFile(`/proc/${pid}/task/${tid}/comm`),
          Deno.readTextFile(`/proc/${pid}/task/${tid}/schedstat`),
        ]);
        const key = `${label} ${threadGroup(comm.trim())}`;
        const nanoseconds = Number(schedstat.split(" ")[0]);
        reading.set(key, (reading.get(key) ?? 0) + nanoseconds);
      } catch {
        // The thread ended meanwhile.
      }
    }
  }
  return reading;
}

/** Deno's main thread is named `deno`; V8's helpers and tokio's pool are summed as one each. */
function threadGroup(comm: string): string {
  if (comm === "deno") return "main";
  if (comm.startsWith("V8 ")) return "v8-helpers";
  if (comm.startsWith("tokio")) return "io-pool";
  return comm;
}

/** What each key spent between two readings (keys that only appear later count from zero). */
export function cpuSpent(before: CpuReading, after: CpuReading): Map<string, number> {
  const spent = new Map<string, number>();
  for (const [key, value] of after) spent.set(key, value - (before.get(key) ?? 0));
  return spent;
}

/** Adds `more` into `total`. */
export function addCpu(total: Map<string, number>, more: Map<string, number>): void {
  for (const [key, value] of more) total.set(key, (total.get(key) ?? 0) + value);
}
