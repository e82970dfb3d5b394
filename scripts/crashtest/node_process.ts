/**
 * One incarnation of a real node process for the crash test, started with the
 * command line of `deno task node` (`bash scripts/node.sh`, which execs the
 * node, so the child's pid is the node itself) and killed the way a crash
 * kills it: SIGKILL to the node, then to whatever it had running (virsh,
 * qemu-img), as a service manager does to a dead service's process group
 * before it starts the service again. The next incarnation is a new
 * {@link NodeProcess} on the same data directory.
 */
import { REPO_ROOT } from "../../tests/helpers.ts";

/** Lines of a node's log kept for waiting on and for the report of a failure. */
const KEPT_LOG_LINES = 4_000;
/** How long a node has to stop after SIGTERM before it is killed. */
const STOP_GRACE_MS = 20_000;

export type NodeSpec = {
  name: string;
  dataDir: string;
  httpPort: number;
  /** Node flags after `--data-dir`. */
  args: string[];
  /** The node's whole environment (`PATH` included): nothing else is inherited. */
  env: Record<string, string>;
};

/** The `deno task node` command line as bash's arguments (`scripts/node.sh`). */
export async function nodeTaskArgs(): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(`${REPO_ROOT}/deno.json`));
  const words = String(config.tasks.node).split(/\s+/);
  if (words[0] !== "bash") throw new Error(`unexpected node task: ${config.tasks.node}`);
  return words.slice(1);
}

type LogWaiter = { text: string; resolve: () => void };

export class NodeProcess {
  readonly spec: NodeSpec;
  readonly #child: Deno.ChildProcess;
  readonly #lines: string[] = [];
  #waiters: LogWaiter[] = [];
  #exited = false;
  readonly status: Promise<Deno.CommandStatus>;
  readonly #logDone: Promise<void>;

  private constructor(spec: NodeSpec, child: Deno.ChildProcess) {
    this.spec = spec;
    this.#child = child;
    this.status = child.status.then((status) => {
      this.#exited = true;
      return status;
    });
    this.#logDone = this.#readLog(child.stderr);
  }

  static async start(spec: NodeSpec): Promise<NodeProcess> {
    const child = new Deno.Command("bash", {
      args: [...await nodeTaskArgs(), "--data-dir", spec.dataDir, ...spec.args],
      cwd: REPO_ROOT,
      env: spec.env,
      clearEnv: true,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    return new NodeProcess(spec, child);
  }

  get pid(): number {
    return this.#child.pid;
  }

  get exited(): boolean {
    return this.#exited;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.spec.httpPort}`;
  }

  /** The last lines of the node's log. */
  logTail(lines = 40): string {
    return this.#lines.slice(-lines).join("\n");
  }

  /** Resolves when a log line of this incarnation contains `text` (at once if one did). */
  logged(text: string): Promise<void> {
    if (this.#lines.some((line) => line.includes(text))) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ text, resolve }));
  }

  /**
   * A crash: SIGKILL to the node, then to the processes it had started (found
   * by parent pid before the kill), so none of them finishes its call later.
   */
  async crash(): Promise<void> {
    const children = await descendants(this.pid);
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    if (children.length > 0) {
      await new Deno.Command("kill", {
        args: ["-KILL", ...children.map(String)],
        stdout: "null",
        stderr: "null",
      }).output();
    }
    await this.status;
    await this.#logDone;
  }

  /** A clean stop (SIGTERM), killed after a grace period. */
  async stop(): Promise<void> {
    if (!this.#exited) {
      try {
        this.#child.kill("SIGTERM");
      } catch {
        // Already gone.
      }
      const timer = setTimeout(() => this.crash(), STOP_GRACE_MS);
      await this.status;
      clearTimeout(timer);
    }
    await this.#logDone;
  }

  async #readLog(stream: ReadableStream<Uint8Array>): Promise<void> {
    let pending = "";
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      pending += text;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) this.#keep(line);
    }
    if (pending !== "") this.#keep(pending);
  }

  #keep(line: string): void {
    this.#lines.push(line);
    if (this.#lines.length > KEPT_LOG_LINES) this.#lines.splice(0, this.#lines.length / 2);
    const waiting = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiting) {
      if (line.includes(waiter.text)) waiter.resolve();
      else this.#waiters.push(waiter);
    }
  }
}

/**
 * Every process below `pid`, from `ps`'s parent pids (a process's
 * `/proc/<pid>/task/<pid>/children` lists only what its main thread forked;
 * the node's workers fork from theirs).
 */
export async function descendants(pid: number): Promise<number[]> {
  const output = await new Deno.Command("ps", {
    args: ["-e", "-o", "pid=,ppid="],
    stdout: "piped",
    stderr: "null",
  }).output();
  const parents = new TextDecoder().decode(output.stdout).split("\n")
    .map((line) => line.trim().split(/\s+/).map(Number))
    .filter((pair): pair is [number, number] => pair.length === 2 && pair.every(Number.isFinite));
  const found: number[] = [];
  const below = (parent: number) => {
    for (const [child, ppid] of parents) {
      if (ppid === parent) {
        found.push(child);
        below(child);
      }
    }
  };
  below(pid);
  return found;
}
