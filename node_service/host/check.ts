/**
 * What the node needs of its host, judged from facts gathered elsewhere
 * (facts.ts): pure, so every verdict is tested with given stat results.
 *
 * libvirt runs QEMU as its own user (Debian: `libvirt-qemu`, qemu.conf's
 * `user`). That user must open /dev/kvm for reading and writing, or VMs run
 * emulated (TCG) and libvirt probes QEMU again on every call (tens of
 * seconds each); and it must search every directory from `/` down to the VM
 * and image directories, or a create fails half-way with libvirt's "Cannot
 * access storage file ... Permission denied". Access is judged by the owner,
 * group and other bits of each file, as the kernel does (one class only: the
 * owner's bits for the owner, even where others may more); ACLs and
 * capabilities other than root's are not looked at.
 */
import {
  type ContainerEngineStatus,
  type HostCheck,
  type HostCheckReport,
  QEMU_CONF_FILE,
} from "../../mod/mod.ts";

/** The user libvirt runs QEMU as when qemu.conf names none (Debian, Ubuntu). */
export const DEFAULT_QEMU_USER = "libvirt-qemu";
/** Where libvirt keeps the user it runs QEMU as (the node service may read it). */
export const QEMU_CONF_PATH = QEMU_CONF_FILE;
export const KVM_DEVICE = "/dev/kvm";

export type QemuUserFacts =
  | {
    kind: "known";
    name: string;
    uid: number;
    /** Every group the QEMU process holds: the user's, and qemu.conf's `group` when numeric. */
    gids: number[];
    /** Names of those groups, where known, and qemu.conf's `group` when named. */
    groupNames: string[];
    /** Where the user was taken from, for the report. */
    source: "qemu.conf" | "default" | "session";
    /** Why qemu.conf could not be read, when it could not (the default user is assumed). */
    confUnreadable?: string;
  }
  | { kind: "unknown"; name: string | null; reason: string };

export type FileType = "directory" | "char_device" | "file" | "other";

export type FileFacts =
  | {
    kind: "present";
    path: string;
    uid: number;
    gid: number;
    /** Names as stat prints them (`UNKNOWN` for an id without a name). */
    owner: string;
    group: string;
    /** Permission bits (0o7777). */
    mode: number;
    type: FileType;
  }
  | { kind: "missing"; path: string }
  | { kind: "unknown"; path: string; reason: string };

export type DirectoryRole = "vm_dir" | "image_dir";

export type DirectoryFacts = {
  role: DirectoryRole;
  /** As configured. */
  path: string;
  /** Symbolic links resolved, when they could be; `null` when not even the path is usable. */
  resolved: string | null;
  /** Every directory from `/` down to the directory itself, in that order. */
  components: FileFacts[];
  /** Why the components could not be gathered at all. */
  unknown?: string;
};

export type HostFacts = {
  domainType: "kvm" | "qemu";
  qemuUser: QemuUserFacts;
  kvm: FileFacts;
  directories: DirectoryFacts[];
};

// ---------------------------------------------------------------------------
// Parsing what the programs print

/** The last uncommented `user = "..."` and `group = "..."` of qemu.conf (libvirt reads the last). */
export function parseQemuConf(text: string): { user?: string; group?: string } {
  const found: { user?: string; group?: string } = {};
  for (const line of text.split("\n")) {
    const match = /^\s*(user|group)\s*=\s*"([^"]*)"\s*(?:#.*)?$/.exec(line);
    if (match) found[match[1] as "user" | "group"] = match[2]!;
  }
  return found;
}

/** `id [user]`: `uid=64055(libvirt-qemu) gid=107(kvm) groups=107(kvm),64055(libvirt-qemu)`. */
export function parseIdOutput(
  text: string,
): { uid: number; name: string | null; gids: number[]; groupNames: string[] } | undefined {
  const uid = /(?:^|\s)uid=(\d+)(?:\(([^)]*)\))?/.exec(text);
  if (!uid) return undefined;
  const gids: number[] = [];
  const groupNames: string[] = [];
  const add = (id: string, name: string | undefined) => {
    if (!gids.includes(Number(id))) gids.push(Number(id));
    if (name !== undefined && !groupNames.includes(name)) groupNames.push(name);
  };
  const gid = /(?:^|\s)gid=(\d+)(?:\(([^)]*)\))?/.exec(text);
  if (gid) add(gid[1]!, gid[2]);
  const groups = /(?:^|\s)groups=(\S+)/.exec(text);
  for (const entry of groups?.[1]?.split(",") ?? []) {
    const one = /^(\d+)(?:\(([^)]*)\))?$/.exec(entry);
    if (one) add(one[1]!, one[2]);
  }
  return { uid: Number(uid[1]), name: uid[2] ?? null, gids, groupNames };
}

/** The `stat --printf` format {@link parseStatOutput} reads: one NUL-ended record a file. */
export const STAT_FORMAT = "%u %g %U %G %f %n\\0";

/** Records of `stat -L --printf=STAT_FORMAT`, by the path as it was given. */
export function parseStatOutput(stdout: string): Map<string, FileFacts & { kind: "present" }> {
  const found = new Map<string, FileFacts & { kind: "present" }>();
  for (const record of stdout.split("\0")) {
    const match = /^(\d+) (\d+) (\S+) (\S+) ([0-9a-f]+) (.*)$/s.exec(record);
    if (!match) continue;
    const raw = parseInt(match[5]!, 16);
    const format = raw & 0o170000;
    const path = match[6]!;
    found.set(path, {
      kind: "present",
      path,
      uid: Number(match[1]),
      gid: Number(match[2]),
      owner: match[3]!,
      group: match[4]!,
      mode: raw & 0o7777,
      type: format === 0o040000
        ? "directory"
        : format === 0o020000
        ? "char_device"
        : format === 0o100000
        ? "file"
        : "other",
    });
  }
  return found;
}

/** Which QEMU a libvirt URI drives: the system one (its own user), a session one (ours), or none here. */
export function libvirtQemuKind(
  uri: string,
): { kind: "system" } | { kind: "session" } | { kind: "other"; reason: string } {
  const match = /^([a-z0-9]+)(?:\+([a-z0-9]+))?:\/\/([^/]*)(\/[^?]*)?/.exec(uri);
  if (!match) return { kind: "other", reason: `${uri} is not a libvirt URI` };
  const [, driver, transport, host, path] = match;
  if (driver !== "qemu") return { kind: "other", reason: `libvirt URI ${uri} does not run QEMU` };
  if ((host !== "" && host !== "localhost") || (transport && transport !== "unix")) {
    return { kind: "other", reason: `libvirt URI ${uri} runs QEMU on another host` };
  }
  if (path === "/session") return { kind: "session" };
  if (path === "/system") return { kind: "system" };
  return { kind: "other", reason: `libvirt URI ${uri} names neither /system nor /session` };
}

/** `/a/b/c` as `/`, `/a`, `/a/b`, `/a/b/c` (`.` and `..` folded); `undefined` for a relative path. */
export function pathComponents(path: string): string[] | undefined {
  if (!path.startsWith("/")) return undefined;
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return ["/", ...parts.map((_, index) => `/${parts.slice(0, index + 1).join("/")}`)];
}

// ---------------------------------------------------------------------------
// Judging access

type KnownUser = QemuUserFacts & { kind: "known" };
type PresentFile = FileFacts & { kind: "present" };
type AccessClass = "root" | "owner" | "group" | "other";

/** The one class of permission bits the kernel applies to `user` on `file`. */
function accessClass(user: KnownUser, file: PresentFile): AccessClass {
  if (user.uid === 0) return "root";
  if (user.uid === file.uid) return "owner";
  if (user.gids.includes(file.gid) || user.groupNames.includes(file.group)) return "group";
  return "other";
}

const SHIFT: Record<Exclude<AccessClass, "root">, number> = { owner: 6, group: 3, other: 0 };
const CLASS_LETTER: Record<Exclude<AccessClass, "root">, string> = {
  owner: "u",
  group: "g",
  other: "o",
};

/** Whether `user` holds every bit of `want` (4 read, 2 write, 1 search) on `file`. */
export function mayAccess(user: KnownUser, file: PresentFile, want: number): boolean {
  const cls = accessClass(user, file);
  if (cls === "root") return true;
  return ((file.mode >> SHIFT[cls]) & want) === want;
}

export function octal(mode: number): string {
  return mode.toString(8).padStart(4, "0");
}

function describe(file: PresentFile): string {
  return `${file.owner}:${file.group} ${octal(file.mode)}`;
}

function classWords(user: KnownUser, file: PresentFile): string {
  switch (accessClass(user, file)) {
    case "root":
      return `${user.name} is root`;
    case "owner":
      return `${user.name} owns it`;
    case "group":
      return `${user.name} is in its group ${file.group}`;
    case "other":
      return `${user.name} is neither its owner nor in its group`;
  }
}

// ---------------------------------------------------------------------------
// The checks

const SETTING: Record<DirectoryRole, { name: string; words: string; why: string }> = {
  vm_dir: {
    name: "vm_dir",
    words: "VM directory",
    why: "holds the VMs' disks",
  },
  image_dir: {
    name: "image_dir",
    words: "image directory",
    why: "holds the base images the VMs' disks are made from",
  },
};

export function qemuUserCheck(user: QemuUserFacts): HostCheck & { check: "qemu_user" } {
  if (user.kind === "unknown") {
    return {
      check: "qemu_user",
      state: "unknown",
      user: user.name,
      uid: null,
      detail: `cannot tell which user libvirt runs QEMU as: ${user.reason}`,
    };
  }
  const from = user.source === "qemu.conf"
    ? `user = "${user.name}" in ${QEMU_CONF_PATH}`
    : user.source === "session"
    ? "a session libvirt runs QEMU as the node's own user"
    : user.confUnreadable !== undefined
    ? `libvirt's default, assumed: ${QEMU_CONF_PATH} cannot be read (${user.confUnreadable})`
    : `${QEMU_CONF_PATH} sets no user, so libvirt's default`;
  return {
    check: "qemu_user",
    state: "ok",
    user: user.name,
    uid: user.uid,
    detail: `libvirt runs QEMU as ${user.name} (uid ${user.uid}, groups ${
      user.gids.join(",")
    }; ${from})`,
  };
}

export function kvmCheck(
  user: QemuUserFacts,
  kvm: FileFacts,
  domainType: "kvm" | "qemu",
): HostCheck & { check: "kvm" } {
  const device = kvm.path;
  const base = { check: "kvm" as const, device };
  if (kvm.kind === "missing") {
    if (domainType === "qemu") {
      return {
        ...base,
        state: "ok",
        detail:
          `${device} does not exist; VMs are emulated without hardware acceleration, as configured (vm_domain_type qemu)`,
      };
    }
    return {
      ...base,
      state: "problem",
      detail:
        `${device} does not exist: this host offers no hardware virtualisation, so libvirt cannot start VMs of domain type kvm (vm_domain_type kvm)`,
      fix:
        "enable virtualisation (VT-x / AMD-V) in the firmware and load the kvm module (modprobe kvm_intel or kvm_amd), or set vm_domain_type to qemu (emulation, slow)",
    };
  }
  if (kvm.kind === "unknown") {
    return { ...base, state: "unknown", detail: `cannot look at ${device}: ${kvm.reason}` };
  }
  if (user.kind === "unknown") {
    return {
      ...base,
      state: "unknown",
      detail: `${device} is ${describe(kvm)}, but the QEMU user is not known: ${user.reason}`,
    };
  }
  if (kvm.type !== "char_device") {
    return {
      ...base,
      state: "problem",
      detail: `${device} is not a character device (${kvm.type}); KVM is not usable`,
      fix: "remove it and load the kvm module (modprobe kvm_intel or kvm_amd), or reboot",
    };
  }
  if (mayAccess(user, kvm, 0o6)) {
    return {
      ...base,
      state: "ok",
      detail: `KVM is usable by ${user.name}: ${device} is ${describe(kvm)} and ${
        classWords(user, kvm)
      }`,
    };
  }
  const consequence = domainType === "kvm"
    ? "libvirt cannot start VMs of domain type kvm (vm_domain_type kvm)"
    : "VMs run without hardware acceleration (TCG)";
  const inKvmGroup = user.groupNames.includes("kvm");
  const fix = kvm.group === "kvm" && (kvm.mode & 0o060) === 0o060
    ? `usermod -aG kvm ${user.name}, then restart libvirt (systemctl restart libvirtd)`
    : `chgrp kvm ${device} && chmod 0660 ${device} (what udev does)${
      inKvmGroup ? "" : `, and usermod -aG kvm ${user.name}`
    }`;
  return {
    ...base,
    state: "problem",
    detail: `KVM is not usable by ${user.name}: ${device} is ${describe(kvm)} and ${
      classWords(user, kvm)
    }; ${consequence} and every libvirt call re-probes QEMU (tens of seconds)`,
    fix,
  };
}

export function directoryCheck(
  user: QemuUserFacts,
  dir: DirectoryFacts,
): HostCheck & { check: DirectoryRole } {
  const setting = SETTING[dir.role];
  const base = { check: dir.role, path: dir.path };
  const shown = dir.resolved && dir.resolved !== dir.path
    ? `${dir.path} (${dir.resolved})`
    : dir.path;
  const name = `the ${setting.words} ${shown}`;
  if (dir.unknown !== undefined) {
    return { ...base, state: "unknown", detail: `cannot look at ${name}: ${dir.unknown}` };
  }
  if (user.kind === "unknown") {
    return {
      ...base,
      state: "unknown",
      detail: `cannot tell whether QEMU can reach ${name}: ${user.reason}`,
    };
  }
  const blocked: Array<{ file: PresentFile; cls: Exclude<AccessClass, "root"> }> = [];
  let missingFrom: string | undefined;
  let lastPresent = "/";
  for (const component of dir.components) {
    if (component.kind === "unknown") {
      return {
        ...base,
        state: "unknown",
        detail: `cannot look at ${component.path} (above ${name}): ${component.reason}`,
      };
    }
    if (component.kind === "missing") {
      missingFrom = component.path;
      break;
    }
    if (component.type !== "directory") {
      return {
        ...base,
        state: "problem",
        blocked_at: component.path,
        detail: `${name} cannot be used: ${component.path} is not a directory`,
        fix: `set ${setting.name} to a directory QEMU can reach`,
      };
    }
    lastPresent = component.path;
    if (!mayAccess(user, component, 0o1)) {
      const cls = accessClass(user, component);
      if (cls !== "root") blocked.push({ file: component, cls });
    }
  }
  if (blocked.length > 0) {
    const first = blocked[0]!;
    const others = blocked.length > 1
      ? ` (and ${blocked.slice(1).map(({ file }) => `${file.path} ${describe(file)}`).join(", ")})`
      : "";
    const chmods = blocked.map(({ file, cls }) => `chmod ${CLASS_LETTER[cls]}+x ${file.path}`);
    return {
      ...base,
      state: "problem",
      blocked_at: first.file.path,
      detail:
        `QEMU (${user.name}) cannot reach ${name}, which ${setting.why}: ${first.file.path} is ${
          describe(first.file)
        } and ${
          classWords(user, first.file)
        }, so it may not search it${others}; a VM create would fail in libvirt with "Cannot access storage file ... Permission denied"`,
      fix: `${chmods.join(" && ")}, or set ${setting.name} to a directory QEMU can reach`,
    };
  }
  return {
    ...base,
    state: "ok",
    detail: missingFrom === undefined
      ? `QEMU (${user.name}) can reach ${name}: every directory from / down is searchable`
      : `QEMU (${user.name}) can search every directory down to ${lastPresent}; ${missingFrom} does not exist yet, the node makes it for ${name}`,
  };
}

export function engineCheck(
  status: ContainerEngineStatus | { state: "unknown"; socket: string; reason: string },
): HostCheck & { check: "container_engine" } {
  const base = { check: "container_engine" as const, socket: status.socket };
  switch (status.state) {
    case "available":
      return {
        ...base,
        state: "ok",
        detail:
          `the container engine answers at ${status.socket}: ${status.engine} ${status.version} (API ${status.api_version})`,
      };
    case "unavailable":
      return {
        ...base,
        state: "problem",
        detail:
          `the container engine does not answer at ${status.socket}: ${status.reason}; containers cannot be created`,
        fix:
          "start the engine (systemctl start docker; for Podman, its API service), or set docker_socket to the engine's socket",
      };
    case "unknown":
      return {
        ...base,
        state: "unknown",
        detail: `cannot ask the container engine at ${status.socket}: ${status.reason}`,
      };
  }
}

/** Every check the facts allow, in a fixed order: QEMU's user, KVM, then the directories. */
export function evaluateHost(facts: HostFacts): HostCheck[] {
  return [
    qemuUserCheck(facts.qemuUser),
    kvmCheck(facts.qemuUser, facts.kvm, facts.domainType),
    ...facts.directories.map((dir) => directoryCheck(facts.qemuUser, dir)),
  ];
}

export function hostReport(checks: HostCheck[], checkedAt: number): HostCheckReport {
  return {
    state: "checked",
    checked_at: checkedAt,
    problems: checks.filter((check) => check.state === "problem").length,
    checks,
  };
}

/** A check as one log line or error sentence: the finding, then the fix. */
export function checkSentence(check: HostCheck): string {
  return check.fix === undefined ? check.detail : `${check.detail}. Fix: ${check.fix}`;
}

/**
 * Why a VM cannot be created on this host now, or `undefined`: a VM or image
 * directory QEMU cannot reach, or KVM unusable when VMs are of domain type
 * kvm. Checks that could not be told (`unknown`) never refuse.
 */
export function vmCreateRefusal(
  checks: readonly HostCheck[],
  domainType: "kvm" | "qemu",
): string | undefined {
  const blocking = checks.filter((check) =>
    check.state === "problem" &&
    (check.check === "vm_dir" || check.check === "image_dir" ||
      (check.check === "kvm" && domainType === "kvm"))
  );
  if (blocking.length === 0) return undefined;
  return `this host cannot run VMs now: ${blocking.map(checkSentence).join("; and ")}`;
}
