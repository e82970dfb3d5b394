/**
 * Gathers what check.ts judges, and keeps the node's host checks: at
 * node-service start (each problem logged with its fix), on demand through
 * `host.checks` (cached a short while), and before every VM create.
 *
 * The node service holds narrow permissions (mod/permissions.ts): it may not
 * stat `/` or the directories above its own, so owners and modes come from
 * coreutils `stat`, the QEMU user's ids and groups from `id`, both run like
 * virsh (tools.ts); the one file read is /etc/libvirt/qemu.conf. A missing
 * program, an absent libvirt or a refused read makes a check `unknown` with
 * the reason, never an exception.
 */
import type { ContainerEngineStatus, HostCheck, HostCheckReport, Logger } from "../../mod/mod.ts";
import {
  checkSentence,
  DEFAULT_QEMU_USER,
  type DirectoryFacts,
  type DirectoryRole,
  engineCheck,
  evaluateHost,
  type FileFacts,
  type HostFacts,
  hostReport,
  KVM_DEVICE,
  libvirtQemuKind,
  parseIdOutput,
  parseQemuConf,
  parseStatOutput,
  pathComponents,
  QEMU_CONF_PATH,
  type QemuUserFacts,
  STAT_FORMAT,
  vmCreateRefusal,
} from "./check.ts";
import { runTool, type ToolResult } from "../tools.ts";

/** `stat` and `id` answer in milliseconds; this only bounds a hung NSS lookup. */
const TOOL_TIMEOUT_MS = 10_000;
/** How stale a report `host.checks` hands out when the caller does not say. */
export const DEFAULT_HOST_CHECK_MAX_AGE_MS = 10_000;
/** How stale the facts a VM create is let through on may be (a refusal always looks again). */
const VM_CREATE_MAX_AGE_MS = 30_000;

export type HostFactInputs = {
  libvirtUri: string;
  domainType: "kvm" | "qemu";
  vmDir: string;
  imageDir: string;
  /** Where to read libvirt's QEMU settings; the system's by default. */
  qemuConfPath?: string;
  kvmDevice?: string;
};

export async function gatherHostFacts(inputs: HostFactInputs): Promise<HostFacts> {
  const kvmDevice = inputs.kvmDevice ?? KVM_DEVICE;
  const [qemuUser, resolved] = await Promise.all([
    qemuUserFacts(inputs.libvirtUri, inputs.qemuConfPath ?? QEMU_CONF_PATH),
    Promise.all(
      ([["vm_dir", inputs.vmDir], ["image_dir", inputs.imageDir]] as const).map((
        [role, path],
      ) => resolveDirectory(role, path)),
    ),
  ]);
  const wanted = [
    kvmDevice,
    ...resolved.flatMap((dir) => dir.componentPaths ?? []),
  ];
  const files = await statFiles([...new Set(wanted)]);
  const directories: DirectoryFacts[] = resolved.map((dir) => ({
    role: dir.role,
    path: dir.path,
    resolved: dir.resolved,
    components: (dir.componentPaths ?? []).map((path) => files.get(path)!),
    ...(dir.unknown === undefined ? {} : { unknown: dir.unknown }),
  }));
  return { domainType: inputs.domainType, qemuUser, kvm: files.get(kvmDevice)!, directories };
}

type ToolOutcome = ToolResult | { kind: "refused"; reason: string };

/** {@link runTool}, with a refusal (no --allow-run of it) as an outcome rather than a throw. */
async function tool(program: "stat" | "id", args: string[]): Promise<ToolOutcome> {
  try {
    return await runTool(program, args, TOOL_TIMEOUT_MS);
  } catch (error) {
    return { kind: "refused", reason: `${program} cannot be run: ${(error as Error).message}` };
  }
}

function toolFailure(program: string, result: ToolOutcome): string | undefined {
  switch (result.kind) {
    case "not_found":
      return `${program} is not installed (coreutils)`;
    case "timed_out":
      return `${program} gave no answer within ${result.timeoutMs} ms`;
    case "refused":
      return result.reason;
    case "exited":
      return undefined;
  }
}

async function qemuUserFacts(libvirtUri: string, qemuConfPath: string): Promise<QemuUserFacts> {
  const kind = libvirtQemuKind(libvirtUri);
  if (kind.kind === "other") return { kind: "unknown", name: null, reason: kind.reason };
  let name: string | undefined;
  let group: string | undefined;
  let source: "qemu.conf" | "default" | "session" = "session";
  let unreadable: string | undefined;
  if (kind.kind === "system") {
    let text = "";
    try {
      text = await Deno.readTextFile(qemuConfPath);
    } catch (error) {
      // No qemu.conf: libvirt's defaults; `id` says below whether libvirt's user exists at all.
      // One the node may not read (0600 root, for a node that is not root): the default, said so.
      if (!(error instanceof Deno.errors.NotFound)) unreadable = (error as Error).message;
    }
    const conf = parseQemuConf(text);
    name = conf.user ?? DEFAULT_QEMU_USER;
    group = conf.group;
    source = conf.user === undefined ? "default" : "qemu.conf";
  }
  // `--` so a user name can never read as an option; `+N` is a uid, as in qemu.conf.
  const result = await tool("id", name === undefined ? [] : ["--", name]);
  const failure = toolFailure("id", result);
  if (failure !== undefined) return { kind: "unknown", name: name ?? null, reason: failure };
  if (result.kind !== "exited") throw new Error("unreachable");
  if (result.code !== 0) {
    const said = result.stderr.trim();
    return {
      kind: "unknown",
      name: name ?? null,
      reason: /no such user/.test(said)
        ? `there is no user ${name} (is libvirt installed? ${qemuConfPath} names the user QEMU runs as)`
        : `id ${name ?? ""} failed: ${said}`,
    };
  }
  const parsed = parseIdOutput(result.stdout);
  if (!parsed) {
    return {
      kind: "unknown",
      name: name ?? null,
      reason: `cannot read id's answer ${JSON.stringify(result.stdout.trim())}`,
    };
  }
  const gids = [...parsed.gids];
  const groupNames = [...parsed.groupNames];
  // qemu.conf's group becomes QEMU's primary group; the user's own groups stay.
  if (group !== undefined) {
    const numeric = /^\+?(\d+)$/.exec(group);
    if (numeric) gids.push(Number(numeric[1]));
    else groupNames.push(group);
  }
  return {
    kind: "known",
    name: name !== undefined && !name.startsWith("+") ? name : parsed.name ?? `uid ${parsed.uid}`,
    uid: parsed.uid,
    gids: [...new Set(gids)],
    groupNames: [...new Set(groupNames)],
    source,
    ...(unreadable === undefined ? {} : { confUnreadable: unreadable }),
  };
}

type ResolvedDirectory = {
  role: DirectoryRole;
  path: string;
  resolved: string | null;
  componentPaths?: string[];
  unknown?: string;
};

/**
 * The directory with symbolic links resolved (a link's own mode is of no
 * account, the directories on its target's way are): the node service may
 * read its VM and image directories, so Deno resolves them. One that does not
 * exist yet is taken as written, when absolute (`stat -L` then follows links).
 */
async function resolveDirectory(role: DirectoryRole, path: string): Promise<ResolvedDirectory> {
  let resolved = path;
  try {
    resolved = await Deno.realPath(path);
  } catch (error) {
    if (!path.startsWith("/")) {
      return {
        role,
        path,
        resolved: null,
        unknown: `a relative path, and it cannot be resolved: ${(error as Error).message}`,
      };
    }
  }
  return { role, path, resolved, componentPaths: pathComponents(resolved)! };
}

/** One `stat` for every path; a path stat has no record of is missing or unknown, as it says. */
async function statFiles(paths: string[]): Promise<Map<string, FileFacts>> {
  const found = new Map<string, FileFacts>();
  if (paths.length === 0) return found;
  const result = await tool("stat", ["-L", `--printf=${STAT_FORMAT}`, "--", ...paths]);
  const failure = toolFailure("stat", result);
  if (failure !== undefined || result.kind !== "exited") {
    for (const path of paths) {
      found.set(path, { kind: "unknown", path, reason: failure ?? "stat did not run" });
    }
    return found;
  }
  const records = parseStatOutput(result.stdout);
  const complaints = result.stderr.split("\n").filter((line) => line.trim() !== "");
  for (const path of paths) {
    const record = records.get(path);
    if (record) {
      found.set(path, record);
      continue;
    }
    const said = complaints.find((line) => line.includes(`'${path}'`)) ??
      complaints.find((line) => line.includes(path));
    found.set(
      path,
      said !== undefined && /No such file or directory/.test(said) ? { kind: "missing", path } : {
        kind: "unknown",
        path,
        reason: said?.replace(/^stat: /, "") ?? `stat reported nothing (exit ${result.code})`,
      },
    );
  }
  return found;
}

// ---------------------------------------------------------------------------
// The checks the node service keeps

export type HostCheckerOptions = HostFactInputs & {
  /** The container engine's answer (container.engine_status); no engine check when absent. */
  engineStatus?: () => Promise<ContainerEngineStatus>;
  /** The socket the engine check names when engineStatus fails outright. */
  engineSocket?: string;
  now: () => number;
  log: Logger;
};

type Cached<T> = { at: number; value: T };

export class HostChecker {
  #options: HostCheckerOptions;
  #facts?: Cached<HostCheck[]>;
  #factsPending?: Promise<Cached<HostCheck[]>>;
  #report?: Cached<HostCheckReport>;
  #reportPending?: Promise<HostCheckReport>;
  /** How many times the facts were gathered. */
  #gathered = 0;

  constructor(options: HostCheckerOptions) {
    this.#options = options;
  }

  /** Every check, no older than `maxAgeMs` (0: checked again now). */
  async report(maxAgeMs = DEFAULT_HOST_CHECK_MAX_AGE_MS): Promise<HostCheckReport> {
    const now = this.#options.now();
    if (this.#report && now - this.#report.at < maxAgeMs) return this.#report.value;
    this.#reportPending ??= (async () => {
      try {
        const [facts, engine] = await Promise.all([
          this.#hostChecks(maxAgeMs),
          this.#engineCheck(),
        ]);
        const checks = engine ? [...facts, engine] : facts;
        const report = hostReport(checks, this.#options.now());
        this.#report = { at: report.checked_at, value: report };
        return report;
      } finally {
        this.#reportPending = undefined;
      }
    })();
    return await this.#reportPending;
  }

  /**
   * Why a VM cannot be created now (a VM or image directory QEMU cannot
   * reach; KVM unusable for kvm domains), or `undefined`. A refusal is
   * looked at again first, so a fix counts at once.
   */
  async vmCreateRefusal(): Promise<string | undefined> {
    const domainType = this.#options.domainType;
    const gathered = this.#gathered;
    const refusal = vmCreateRefusal(await this.#hostChecks(VM_CREATE_MAX_AGE_MS), domainType);
    // Just looked at: no need to look again.
    if (refusal === undefined || this.#gathered !== gathered) return refusal;
    return vmCreateRefusal(await this.#hostChecks(0), domainType);
  }

  /** Checks now and logs each finding: a problem at warn with its fix, the rest at info. */
  async logAtStart(options: { problemsAtWarn: boolean }): Promise<HostCheckReport> {
    const report = await this.report(0);
    const log = this.#options.log;
    for (const check of report.checks) {
      const fields = { check: check.check, state: check.state };
      const line = `host check ${check.check}: ${checkSentence(check)}`;
      if (check.state === "problem" && options.problemsAtWarn) log.warn(line, fields);
      else log.info(line, fields);
    }
    return report;
  }

  async #hostChecks(maxAgeMs: number): Promise<HostCheck[]> {
    const now = this.#options.now();
    if (this.#facts && now - this.#facts.at < maxAgeMs) return this.#facts.value;
    this.#factsPending ??= (async () => {
      try {
        const facts = await gatherHostFacts(this.#options);
        this.#gathered++;
        const cached = { at: this.#options.now(), value: evaluateHost(facts) };
        this.#facts = cached;
        return cached;
      } finally {
        this.#factsPending = undefined;
      }
    })();
    return (await this.#factsPending).value;
  }

  async #engineCheck(): Promise<HostCheck | undefined> {
    const { engineStatus, engineSocket } = this.#options;
    if (!engineStatus) return undefined;
    try {
      return engineCheck(await engineStatus());
    } catch (error) {
      return engineCheck({
        state: "unknown",
        socket: engineSocket ?? "",
        reason: (error as Error).message,
      });
    }
  }
}
