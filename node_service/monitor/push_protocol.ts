/**
 * What the node service tells the push process (push_process.ts) on its
 * stdin, and what the process answers on its stdout, one JSON line a job.
 * No imports: the process loads this with its own, narrow permissions.
 */

/** One payload for one server. */
export type PushJob = {
  /** Where: the renter's server. */
  hostname: string;
  port: number;
  /** The Zabbix host the data is filed under (a task id, or the machine id). */
  host: string;
  /** Ask the server first whether it wants `host` (the original's "active checks"). */
  ask: boolean;
  /** The "agent data" request, as JSON text. */
  data: string;
};

export type PushRound = {
  jobs: PushJob[];
  /** Each connection's deadline. */
  connection_timeout_ms: number;
  /** `deny`: refuse a name that resolves to a non-public IPv6 address before connecting. */
  private_addresses: "deny" | "allow";
};

export type PushOutcome =
  /** The data went out; `accepted` when the server answered "success". */
  | { kind: "sent"; accepted: boolean; answer: string }
  /** Asked first, the server said it does not want this host: nothing was sent. */
  | { kind: "unwanted"; answer: string }
  /** Not sent: `not_allowed` when the address is not one this node sends to. */
  | { kind: "failed"; not_allowed: boolean; reason: string };

/** A line of the process's stdout. */
export type PushReport = { job: number; outcome: PushOutcome };
