/**
 * Runs one round of pushes in the push process (push_process.ts), with the
 * permissions push_policy.ts gives it, and gathers what it says of each job.
 * The round never outlives its deadline: the process is killed then, and
 * the jobs it said nothing of count as failed.
 */
import { spawnOutbound } from "../host/mod.ts";
import { pushFlags, type PushPolicy } from "./push_policy.ts";
import type { PushJob, PushOutcome, PushReport, PushRound } from "./push_protocol.ts";

/** Sends `jobs`; one outcome per job, in order. Never throws for a job's failure. */
export type PushRunner = (jobs: readonly PushJob[], signal: AbortSignal) => Promise<PushOutcome[]>;

const PUSH_PROCESS = new URL("./push_process.ts", import.meta.url);
/** How much of the process's stderr a failure quotes. */
const STDERR_EXCERPT = 300;

export type ProcessPusherOptions = PushPolicy & {
  /** Each connection's deadline. */
  connectionTimeoutMs: number;
  /** The whole round's. */
  roundDeadlineMs: number;
};

export function processPusher(options: ProcessPusherOptions): PushRunner {
  return async (jobs, signal) => {
    if (jobs.length === 0) return [];
    const round: PushRound = {
      jobs: [...jobs],
      connection_timeout_ms: options.connectionTimeoutMs,
      private_addresses: options.allowPrivate ? "allow" : "deny",
    };
    const process = spawnOutbound(
      PUSH_PROCESS,
      pushFlags(jobs.map((job) => ({ host: job.hostname, port: job.port })), options),
      [],
      { stdin: "piped" },
    );
    const child = process.child;
    let ended = "";
    const kill = (why: string) => {
      ended ||= why;
      process.kill();
    };
    const timer = setTimeout(
      () => kill(`the round ran past its ${options.roundDeadlineMs} ms`),
      options.roundDeadlineMs,
    );
    const onAbort = () => kill("the node service stopped");
    signal.addEventListener("abort", onAbort);
    try {
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(JSON.stringify(round))).catch(() => {});
      await writer.close().catch(() => {});
      const output = await child.output();
      const outcomes: Array<PushOutcome | undefined> = jobs.map(() => undefined);
      for (const line of new TextDecoder().decode(output.stdout).split("\n")) {
        if (line.trim() === "") continue;
        try {
          const { job, outcome } = JSON.parse(line) as PushReport;
          if (Number.isInteger(job) && job >= 0 && job < jobs.length) outcomes[job] = outcome;
        } catch {
          // A line cut short by a kill: its job counts as failed below.
        }
      }
      const stderr = new TextDecoder().decode(output.stderr).trim().slice(0, STDERR_EXCERPT);
      const why = ended ||
        `the push process ended (exit ${output.code})${stderr ? `: ${stderr}` : ""}`;
      return outcomes.map((outcome) =>
        outcome ?? { kind: "failed", not_allowed: false, reason: `not sent: ${why}` }
      );
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    }
  };
}
