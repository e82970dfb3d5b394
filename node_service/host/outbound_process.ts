/**
 * Starting and reading a process of the node's that connects out (see
 * outbound.ts): an image download, an image-server request, a round of
 * monitoring pushes. Each is `deno run` with no configuration, no prompt and
 * only the permissions its policy gives; it reports on stderr in JSON lines.
 */
import { fileURLToPath } from "node:url";

/** A started process, and how to end it at once. */
export type OutboundProcess = {
  child: Deno.ChildProcess;
  /** SIGKILL; one already gone is left be. */
  kill: () => void;
};

/**
 * Starts `program` with `permissions` (the flags of {@link outboundFlags}, and any the program
 * needs beside them) and `args`; stdout and stderr are piped.
 */
export function spawnOutbound(
  program: URL,
  permissions: readonly string[],
  args: readonly string[],
  io: { stdin: "piped" | "null"; env?: Record<string, string> },
): OutboundProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-config",
      "--no-prompt",
      "--quiet",
      ...permissions,
      fileURLToPath(program),
      ...args,
    ],
    ...(io.env ? { env: io.env } : {}),
    stdin: io.stdin,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const kill = () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  };
  return { child, kill };
}

/** The lines a process writes to stderr, one at a time; a last one without its newline too. */
export function stderrLines(stream: ReadableStream<Uint8Array>) {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let said = "";
  return {
    async next(): Promise<string | undefined> {
      while (!said.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) {
          const rest = said;
          said = "";
          return rest === "" ? undefined : rest;
        }
        said += value;
      }
      const line = said.slice(0, said.indexOf("\n"));
      said = said.slice(said.indexOf("\n") + 1);
      return line;
    },
    close: () => reader.cancel().catch(() => {}),
  };
}

/** Why a process that did not succeed failed: its last line's `error`, else its exit code. */
export function failureReason(lastLine: string | undefined, exitCode: number): string {
  try {
    return (JSON.parse(lastLine ?? "") as { error?: string }).error ?? `exit ${exitCode}`;
  } catch {
    // Not the process's own line: the exit code says enough.
    return `exit ${exitCode}`;
  }
}
