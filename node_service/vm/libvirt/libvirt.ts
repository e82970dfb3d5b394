/**
 * The {@link Hypervisor} on libvirt, spoken to through `virsh -c <uri>`: one
 * argument array per command (never a shell string), names checked before
 * they are passed, every failure turned into a typed {@link HypervisorError}.
 */
import {
  type DomainDetails,
  type DomainState,
  type DomainSummary,
  type Hypervisor,
  HypervisorError,
  isActive,
  type ShutdownOutcome,
} from "./hypervisor.ts";
import { runTool } from "../../tools.ts";
import {
  classifyVirshError,
  parseDomainList,
  parseDomainState,
  parseDomBlkList,
  parseDomIfAddr,
  parseDomInfo,
  parseVncDisplay,
  virshMessage,
} from "./virsh_output.ts";
import { VIRSH_TIMEOUT_MS, VM_STATE_POLL_MS } from "../constants.ts";
import { type DomainUsage, DOMSTATS_FLAGS, parseDomainStats } from "./domain_stats.ts";

/** The names this node gives domains; anything else is refused before virsh sees it. */
const DOMAIN_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

export type LibvirtOptions = {
  /** e.g. `qemu:///system`. */
  uri: string;
  /** Waits between state polls; injectable so tests can count them. */
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
};

export class LibvirtHypervisor implements Hypervisor {
  readonly uri: string;
  #sleep: (ms: number) => Promise<void>;
  #now: () => number;

  constructor(options: LibvirtOptions) {
    if (!/^[a-z0-9+]+:\/\/[^\s]*$/.test(options.uri)) {
      throw new Error(`not a libvirt URI: ${JSON.stringify(options.uri)}`);
    }
    this.uri = options.uri;
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#now = options.now ?? Date.now;
  }

  async ping(): Promise<void> {
    await this.#virsh(["version"]);
  }

  async define(xmlPath: string): Promise<void> {
    if (!xmlPath.startsWith("/")) throw new Error(`not an absolute path: ${xmlPath}`);
    // --validate: libvirt checks the XML against its RelaxNG schema before defining.
    await this.#virsh(["define", "--validate", "--file", xmlPath]);
  }

  async start(name: string): Promise<void> {
    await this.#virsh(["start", "--domain", checkName(name)]);
  }

  async askShutdown(name: string): Promise<"asked" | "already_off"> {
    const before = await this.state(name);
    if (before === undefined) throw new HypervisorError("not_found", `no domain ${name}`);
    if (!isActive(before)) return "already_off";
    try {
      await this.#virsh(["shutdown", "--domain", checkName(name), "--mode", "acpi"]);
    } catch (error) {
      // It went off between the state check and the request.
      if (error instanceof HypervisorError && error.kind === "conflict") return "already_off";
      throw error;
    }
    return "asked";
  }

  async shutdown(name: string, timeoutMs: number, forceAfter = true): Promise<ShutdownOutcome> {
    const before = await this.state(name);
    if (before === undefined) throw new HypervisorError("not_found", `no domain ${name}`);
    if (!isActive(before)) return "already_off";
    if (timeoutMs > 0) {
      // Off between the state check and the request: it went off as asked.
      if (await this.askShutdown(name) === "already_off") return "acpi";
      const deadline = this.#now() + timeoutMs;
      while (this.#now() < deadline) {
        const state = await this.state(name);
        if (state === undefined || !isActive(state)) return "acpi";
        await this.#sleep(VM_STATE_POLL_MS);
      }
    }
    if (!forceAfter) return "ignored";
    try {
      await this.destroy(name);
    } catch (error) {
      if (error instanceof HypervisorError && error.kind === "conflict") return "acpi";
      throw error;
    }
    return "forced";
  }

  async setUserPassword(name: string, user: string, password: string): Promise<void> {
    // The command goes to virsh's own command reader on its standard input: as an argument, the
    // password would show in /proc/<pid>/cmdline to every local user while virsh runs. Read from
    // there, virsh exits 0 whatever happens, so its failure is what it writes to stderr.
    const command = [
      "set-user-password",
      "--domain",
      checkName(name),
      "--user",
      virshQuoted(user),
      "--password",
      virshQuoted(password),
    ].join(" ");
    const what = `virsh set-user-password ${name} ${user}`;
    const result = await runTool("virsh", ["-q", "-c", this.uri], VIRSH_TIMEOUT_MS, `${command}\n`);
    switch (result.kind) {
      case "not_found":
        throw new HypervisorError(
          "unavailable",
          "virsh is not installed (package libvirt-clients)",
        );
      case "timed_out":
        throw new HypervisorError("timeout", `${what}: no answer within ${result.timeoutMs} ms`);
      case "exited":
        if (result.code !== 0 || /^error:/m.test(result.stderr)) {
          throw new HypervisorError(
            classifyVirshError(result.stderr),
            `${what}: ${virshMessage(result.stderr)}`,
          );
        }
    }
  }

  async attachLive(name: string, xmlPath: string): Promise<void> {
    if (!xmlPath.startsWith("/")) throw new Error(`not an absolute path: ${xmlPath}`);
    await this.#virsh(["attach-device", "--domain", checkName(name), "--file", xmlPath, "--live"]);
  }

  async detachDiskLive(name: string, target: string): Promise<void> {
    await this.#virsh([
      "detach-disk",
      "--domain",
      checkName(name),
      "--target",
      checkTarget(target),
      "--live",
    ]);
  }

  async resizeBlockLive(name: string, target: string, bytes: number): Promise<void> {
    if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new Error(`bad disk size ${bytes}`);
    await this.#virsh([
      "blockresize",
      "--domain",
      checkName(name),
      "--path",
      checkTarget(target),
      "--size",
      `${bytes}B`,
    ]);
  }

  async reboot(name: string): Promise<void> {
    await this.#virsh(["reboot", "--domain", checkName(name), "--mode", "acpi"]);
  }

  async reset(name: string): Promise<void> {
    await this.#virsh(["reset", "--domain", checkName(name)]);
  }

  async destroy(name: string): Promise<void> {
    await this.#virsh(["destroy", "--domain", checkName(name)]);
  }

  async undefine(name: string): Promise<void> {
    const state = await this.state(name);
    if (state === undefined) throw new HypervisorError("not_found", `no domain ${name}`);
    if (isActive(state)) {
      try {
        await this.destroy(name);
      } catch (error) {
        if (!(error instanceof HypervisorError && error.kind === "conflict")) throw error;
      }
    }
    // --nvram: a UEFI guest's variable store goes with it. --snapshots-metadata: libvirt refuses
    // to undefine a domain it knows snapshots of (the node's own live in the disk, unknown to
    // libvirt, but an operator may have taken some with virsh); the disk goes with the VM anyway.
    await this.#virsh([
      "undefine",
      "--domain",
      checkName(name),
      "--nvram",
      "--snapshots-metadata",
    ]);
  }

  async state(name: string): Promise<DomainState | undefined> {
    const output = await this.#virshOrMissing(["domstate", "--domain", checkName(name)]);
    if (output === undefined) return undefined;
    const state = parseDomainState(output);
    if (!state) throw new HypervisorError("failed", `virsh domstate ${name}: unreadable ${output}`);
    return state;
  }

  async definition(name: string): Promise<string | undefined> {
    // --inactive: the persistent definition, not the running one; without --security-info,
    // so the VNC password stays out of it.
    return await this.#virshOrMissing(["dumpxml", "--inactive", "--domain", checkName(name)]);
  }

  async details(name: string): Promise<DomainDetails | undefined> {
    checkName(name);
    const [info, blocks] = await Promise.all([
      this.#virshOrMissing(["dominfo", "--domain", name]),
      this.#virshOrMissing(["domblklist", "--domain", name, "--details"]),
    ]);
    if (info === undefined || blocks === undefined) return undefined;
    const parsed = parseDomInfo(info);
    if (!parsed) throw new HypervisorError("failed", `virsh dominfo ${name}: unreadable output`);
    let vncPort: number | null = null;
    const addresses = new Set<string>();
    if (isActive(parsed.state)) {
      // Each may fail when the domain stops meanwhile; the details are a snapshot anyway.
      const [vnc, leases, arp] = await Promise.all([
        this.#virshOrMissing(["vncdisplay", "--domain", name]).catch(() => undefined),
        this.#virshOrMissing(["domifaddr", "--domain", name, "--source", "lease"])
          .catch(() => undefined),
        this.#virshOrMissing(["domifaddr", "--domain", name, "--source", "arp"])
          .catch(() => undefined),
      ]);
      vncPort = vnc === undefined ? null : parseVncDisplay(vnc);
      for (const text of [leases, arp]) {
        for (const address of parseDomIfAddr(text ?? "")) addresses.add(address);
      }
    }
    return {
      name: parsed.name,
      uuid: parsed.uuid,
      state: parsed.state,
      vcpus: parsed.vcpus,
      memoryKib: parsed.maxMemoryKib,
      disks: parseDomBlkList(blocks),
      vncPort,
      addresses: [...addresses],
    };
  }

  async usage(name: string): Promise<DomainUsage | undefined> {
    const output = await this.#virshOrMissing(["domstats", ...DOMSTATS_FLAGS, checkName(name)]);
    if (output === undefined) return undefined;
    const usage = parseDomainStats(output);
    if (!usage) throw new HypervisorError("failed", `virsh domstats ${name}: unreadable output`);
    return usage;
  }

  async list(): Promise<DomainSummary[]> {
    return parseDomainList(await this.#virsh(["list", "--all"]));
  }

  /** Runs virsh; `undefined` when it says the domain does not exist. */
  async #virshOrMissing(args: string[]): Promise<string | undefined> {
    try {
      return await this.#virsh(args);
    } catch (error) {
      if (error instanceof HypervisorError && error.kind === "not_found") return undefined;
      throw error;
    }
  }

  async #virsh(args: string[]): Promise<string> {
    const result = await runTool("virsh", ["-c", this.uri, ...args], VIRSH_TIMEOUT_MS);
    const what = `virsh ${args.filter((arg) => !arg.startsWith("--")).join(" ")}`;
    switch (result.kind) {
      case "not_found":
        throw new HypervisorError(
          "unavailable",
          "virsh is not installed (package libvirt-clients)",
        );
      case "timed_out":
        throw new HypervisorError("timeout", `${what}: no answer within ${result.timeoutMs} ms`);
      case "exited":
        if (result.code !== 0) {
          const kind = classifyVirshError(result.stderr);
          const hint = kind === "unavailable"
            ? ` (is libvirtd running? see scripts/system/libvirt_setup.sh)`
            : /Permission denied/.test(result.stderr)
            ? " (QEMU runs as libvirt's own user: every directory above the VM and image" +
              " directories must be traversable by others, e.g. chmod 0711 on the data directory)"
            : "";
          throw new HypervisorError(kind, `${what}: ${virshMessage(result.stderr)}${hint}`);
        }
        return result.stdout;
    }
  }
}

/**
 * One argument for virsh's command reader: in single quotes, each quote in it closed, escaped
 * and reopened (`'\\''`), as a POSIX shell reads it; newlines never reach here (the schemas
 * allow printable ASCII only), and are refused in case.
 */
export function virshQuoted(text: string): string {
  if (/[\n\r]/.test(text)) throw new HypervisorError("invalid", "a virsh argument with a newline");
  return `'${text.replaceAll("'", "'\\''")}'`;
}

/** A guest disk device name (`vda`, `sdb`); anything else is refused before virsh sees it. */
function checkTarget(target: string): string {
  if (!/^(vd|sd)[a-z]$/.test(target)) {
    throw new HypervisorError("invalid", `not a disk device name: ${JSON.stringify(target)}`);
  }
  return target;
}

function checkName(name: string): string {
  if (!DOMAIN_NAME.test(name)) {
    throw new HypervisorError(
      "invalid",
      `not a domain name this node uses: ${JSON.stringify(name)}`,
    );
  }
  return name;
}
