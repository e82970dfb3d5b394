/**
 * One round of monitoring pushes, as a process of its own: `deno run <flags
 * of push_policy.ts> push_process.ts`, a {@link PushRound} on stdin, one
 * {@link PushReport} line a job on stdout. Its net permissions are the
 * round's servers less the non-public ranges, checked by Deno on every
 * connection against the address a name resolved to; the node service
 * itself may connect to none of them.
 *
 * Servers are served side by side, each one's jobs in turn, each job on
 * connections of its own (the original's one request a connection), each
 * connection within its deadline.
 */
import { ipv6Refusal } from "../host/outbound.ts";
import type { PushJob, PushOutcome, PushReport, PushRound } from "./push_protocol.ts";
import { activeChecksRequest, answerSucceeded, frame, readFrame } from "./zabbix.ts";

/** How much of a server's answer a report carries (for the node's log). */
const ANSWER_EXCERPT = 200;
const READ_CHUNK = 4_096;

class NotAllowed extends Error {}

const encoder = new TextEncoder();

function report(line: PushReport): void {
  const bytes = encoder.encode(`${JSON.stringify(line)}\n`);
  let written = 0;
  while (written < bytes.length) written += Deno.stdout.writeSync(bytes.subarray(written));
}

/** Sends one request on a connection of its own and reads the one answer, within `timeoutMs`. */
async function exchange(job: PushJob, json: string, timeoutMs: number): Promise<string> {
  let connection: Deno.TcpConn | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      try {
        connection?.close();
      } catch {
        // Already closed.
      }
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  const talk = async () => {
    const connecting = Deno.connect({ hostname: job.hostname, port: job.port });
    // A connection that arrives after the deadline is closed at once.
    connecting.then((late) => {
      if (timer !== undefined) return;
      try {
        late.close();
      } catch {
        // Already closed.
      }
    }, () => {});
    connection = await connecting;
    const request = frame(json);
    let written = 0;
    while (written < request.length) written += await connection.write(request.subarray(written));
    let received = new Uint8Array(0);
    const chunk = new Uint8Array(READ_CHUNK);
    for (;;) {
      const read = readFrame(received);
      if (read.kind === "frame") return read.json;
      if (read.kind === "invalid") throw new Error(read.reason);
      const count = await connection.read(chunk);
      if (count === null) throw new Error("the server closed the connection without an answer");
      const grown = new Uint8Array(received.length + count);
      grown.set(received);
      grown.set(chunk.subarray(0, count), received.length);
      received = grown;
    }
  };
  const talking = talk();
  // After the deadline its failure (a closed connection) is nobody's concern.
  talking.catch(() => {});
  try {
    return await Promise.race([talking, expired]);
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable || /Requires net access/.test(String(error))) {
      throw new NotAllowed(
        "not an address this node sends monitoring data to: it is, or resolves to, a loopback, " +
          "private or link-local address",
      );
    }
    throw error;
  } finally {
    clearTimeout(timer);
    timer = undefined;
    try {
      connection?.close();
    } catch {
      // Already closed.
    }
  }
}

async function push(job: PushJob, round: PushRound): Promise<PushOutcome> {
  try {
    if (round.private_addresses !== "allow") {
      const refusal = await ipv6Refusal(job.hostname);
      if (refusal) return { kind: "failed", not_allowed: true, reason: refusal };
    }
    if (job.ask) {
      const answer = await exchange(
        job,
        activeChecksRequest(job.host),
        round.connection_timeout_ms,
      );
      if (!answerSucceeded(answer)) {
        return { kind: "unwanted", answer: answer.slice(0, ANSWER_EXCERPT) };
      }
    }
    const answer = await exchange(job, job.data, round.connection_timeout_ms);
    return {
      kind: "sent",
      accepted: answerSucceeded(answer),
      answer: answer.slice(0, ANSWER_EXCERPT),
    };
  } catch (error) {
    return {
      kind: "failed",
      not_allowed: error instanceof NotAllowed,
      reason: (error as Error)?.message ?? String(error),
    };
  }
}

async function main(): Promise<number> {
  let round: PushRound;
  try {
    round = JSON.parse(await new Response(Deno.stdin.readable).text());
  } catch (error) {
    console.error(`push process: no round on stdin: ${(error as Error).message}`);
    return 2;
  }
  const byServer = new Map<string, number[]>();
  round.jobs.forEach((job, index) => {
    const server = `${job.hostname}|${job.port}`;
    byServer.set(server, [...(byServer.get(server) ?? []), index]);
  });
  await Promise.all([...byServer.values()].map(async (indexes) => {
    for (const index of indexes) {
      report({ job: index, outcome: await push(round.jobs[index]!, round) });
    }
  }));
  return 0;
}

Deno.exit(await main());
