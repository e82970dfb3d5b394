/**
 * One target's run, in a worker of its own: the thread that started it
 * watches `progress` and ends the worker when an input hangs (a synchronous
 * loop cannot be interrupted from inside), and each target gets a fresh heap.
 */
/// <reference lib="deno.worker" />
import { type FuzzReport, type RunOptions, runTarget } from "./run_target.ts";
import { loadTarget } from "./targets/mod.ts";

export type WorkerRequest = {
  name: string;
  options: Omit<RunOptions, "progress">;
  progress: SharedArrayBuffer;
};
export type WorkerAnswer = { kind: "report"; report: FuzzReport } | {
  kind: "error";
  message: string;
};

self.onmessage = async (event: MessageEvent<WorkerRequest>) => {
  const { name, options, progress } = event.data;
  let answer: WorkerAnswer;
  try {
    const target = await loadTarget(name);
    answer = {
      kind: "report",
      report: await runTarget(target, { ...options, progress: new Float64Array(progress) }),
    };
  } catch (error) {
    answer = { kind: "error", message: (error as Error)?.stack ?? String(error) };
  }
  self.postMessage(answer);
};
