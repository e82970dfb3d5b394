/**
 * The renter CLI's command line, parsed by hand (no dependency): words are
 * positionals, `--name value` and `--name=value` are flags, `--` ends the
 * flags. Which flags take a value and of which kind comes from one table,
 * {@link FLAGS}; which flags a command accepts is the command's business.
 *
 * @example
 * ```ts
 * const parsed = parseCommandLine(["vm", "get", "t1", "--node=12D3KooW...", "--json"]);
 * if (parsed.ok) parsed.value.positionals; // ["vm", "get", "t1"]
 * ```
 */

/** `boolean`: present or not; `string`: any text; `count`: a whole number from 1; `count0`: from 0. */
export type FlagKind = "boolean" | "string" | "count" | "count0";

/** Every flag the CLI knows, with what it holds; commands pick theirs from here. */
export const FLAGS = {
  json: { kind: "boolean", help: "print the answer as JSON (complete, for scripts)" },
  help: { kind: "boolean", help: "show help" },
  api: {
    kind: "string",
    help: "the node's API base URL (default: $DBC_API or http://127.0.0.1:8080)",
  },
  global: { kind: "boolean", help: "the whole address book instead of connected neighbours" },
  node: { kind: "string", help: "the GPU node's id (12D3KooW...)" },
  image: { kind: "string", help: "image name" },
  gpus: { kind: "count0", help: "number of GPUs (default 0)" },
  cpus: { kind: "count", help: "CPU cores" },
  "memory-gib": { kind: "count", help: "memory, GiB" },
  "disk-gib": { kind: "count", help: "system disk, GiB (default: the image's size)" },
  "ssh-key": { kind: "string", help: "an OpenSSH public key to log in with" },
  password: {
    kind: "string",
    help: "the VM login password (else the node makes one; `vm get` shows it)",
  },
  "ssh-port": { kind: "count", help: "the host port forwarded to the VM's SSH (or RDP)" },
  description: { kind: "string", help: "a line saying what the snapshot is for" },
  "ttl-s": { kind: "count", help: "how many seconds the session lasts (default a day)" },
  label: { kind: "string", help: "a name for the session, for you" },
  cmd: { kind: "string", help: "the command to run, split on spaces (quotes group words)" },
  ssh: { kind: "boolean", help: "publish the container's SSH port (22/tcp) on a host port" },
  force: { kind: "boolean", help: "power the VM off at once instead of asking the guest" },
  period: { kind: "count", help: "how many units of rent time" },
  unit: { kind: "string", help: "second, hour or day" },
  state: { kind: "string", help: "unverified, verifying, online, leased or failed" },
  owner: { kind: "string", help: "the owner's SS58 address" },
  account: { kind: "string", help: "an SS58 account address" },
  tail: { kind: "count", help: "the last N lines (at most 100)" },
  head: { kind: "count", help: "the first N lines (at most 100)" },
  prices: {
    kind: "string",
    help: "rent prices per unit in the smallest currency unit: hour=1000,day=20000 (second too)",
  },
  declare: {
    kind: "string",
    help:
      "what to declare instead of what the node measured: memory_gib=8,disk_gib=100,cpu_cores=4,cpu_model=...,gpu_model=...,gpu_count=1",
  },
  kernel: { kind: "string", help: "a kernel image on the node to boot directly (validate)" },
  initrd: { kind: "string", help: "the initrd image for --kernel" },
  cmdline: { kind: "string", help: "the kernel command line for --kernel (default console=ttyS0)" },
  "timeout-s": { kind: "count", help: "seconds the check VM's guest has to report (default 300)" },
  "slot-wait-s": { kind: "count", help: "give up when the next slot opens later than this" },
  sha256: { kind: "string", help: "the file's SHA-256 (64 hex), when its server has no .sha256" },
  task: { kind: "string", help: "a VM's task id" },
  snapshot: { kind: "string", help: "one of the VM's snapshots, by name" },
  "remote-name": { kind: "string", help: "the file's name on the image server" },
  lan: { kind: "string", help: "your private network (`lan create`) the VM joins" },
  vni: { kind: "count", help: "the VXLAN VNI of your network on another host, to join it" },
  chain: {
    kind: "string",
    help: "the DBC chain's WebSocket RPC (ws://...): rent, confirm and renew on the chain itself",
  },
  multisig: {
    kind: "string",
    help:
      "on the chain: every signatory of the multisig account that rents (SS58, comma-separated)",
  },
  threshold: { kind: "count", help: "on the chain: how many signatories the multisig needs" },
  peers: {
    kind: "string",
    help: "your other hosts' tunnel ends (their networks' vtep), comma-separated",
  },
} as const satisfies Record<string, { kind: FlagKind; help: string }>;

export type FlagName = keyof typeof FLAGS;
export type FlagValues = Partial<Record<FlagName, string | number | boolean>>;
export type ParsedCommandLine = { positionals: string[]; flags: FlagValues };
export type ParseResult<T> = { ok: true; value: T } | { ok: false; message: string };

/** Positionals and flags of `argv`; a flag given twice, unknown, or of the wrong kind is an error. */
export function parseCommandLine(argv: readonly string[]): ParseResult<ParsedCommandLine> {
  const positionals: string[] = [];
  const flags: FlagValues = {};
  for (let index = 0; index < argv.length; index++) {
    const word = argv[index]!;
    if (word === "--") {
      positionals.push(...argv.slice(index + 1));
      break;
    }
    if (!word.startsWith("--") || word === "-") {
      if (word.startsWith("-") && word !== "-" && !/^-\d/.test(word)) {
        return { ok: false, message: `unknown option ${word} (options are spelt --name)` };
      }
      positionals.push(word);
      continue;
    }
    const equals = word.indexOf("=");
    const name = word.slice(2, equals === -1 ? undefined : equals);
    if (!isFlagName(name)) return { ok: false, message: `unknown option --${name}` };
    if (name in flags) return { ok: false, message: `--${name} given twice` };
    const kind = FLAGS[name].kind;
    if (kind === "boolean") {
      if (equals !== -1) return { ok: false, message: `--${name} takes no value` };
      flags[name] = true;
      continue;
    }
    let text: string | undefined;
    if (equals !== -1) {
      text = word.slice(equals + 1);
    } else {
      text = argv[index + 1];
      if (text === undefined || (text.startsWith("--") && text.length > 2)) {
        return { ok: false, message: `--${name} needs a value` };
      }
      index++;
    }
    if (kind === "string") {
      if (text === "") return { ok: false, message: `--${name} needs a value` };
      flags[name] = text;
      continue;
    }
    const least = kind === "count0" ? 0 : 1;
    if (!/^\d{1,9}$/.test(text) || Number(text) < least) {
      return {
        ok: false,
        message: `--${name}: expected a whole number from ${least}, got "${text}"`,
      };
    }
    flags[name] = Number(text);
  }
  return { ok: true, value: { positionals, flags } };
}

export function isFlagName(name: string): name is FlagName {
  return Object.hasOwn(FLAGS, name);
}

/**
 * Words of a command line the way a shell would split them, for `--cmd`:
 * spaces separate, single or double quotes group, a backslash escapes the
 * next character outside single quotes.
 */
export function splitWords(text: string): ParseResult<string[]> {
  const words: string[] = [];
  let current: string | undefined;
  let quote: "'" | '"' | undefined;
  for (let index = 0; index < text.length; index++) {
    const char = text[index]!;
    if (quote === "'") {
      if (char === "'") quote = undefined;
      else current += char;
      continue;
    }
    if (char === "\\") {
      const next = text[index + 1];
      if (next === undefined) return { ok: false, message: "a trailing backslash" };
      current = (current ?? "") + next;
      index++;
      continue;
    }
    if (quote === '"') {
      if (char === '"') quote = undefined;
      else current += char;
      continue;
    }
    if (char === "'" || char === '"') {
      quote = char;
      current ??= "";
      continue;
    }
    if (/\s/.test(char)) {
      if (current !== undefined) words.push(current);
      current = undefined;
      continue;
    }
    current = (current ?? "") + char;
  }
  if (quote) return { ok: false, message: `an unclosed ${quote} quote` };
  if (current !== undefined) words.push(current);
  return { ok: true, value: words };
}
