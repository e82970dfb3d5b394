/**
 * The seed disk that lets a renter log in to a Linux VM: a cloud-init NoCloud
 * data source, i.e. a small vfat filesystem labelled `CIDATA` holding
 * `meta-data` (the instance id and host name) and `user-data` (the login
 * user with the renter's SSH keys and password). cloud-init in the guest
 * image finds it by its label at first boot and sets the user up. Pure: the
 * VM service writes the bytes to the VM's directory and the domain XML
 * attaches them read-only.
 *
 * Both documents are JSON, which is YAML too (cloud-init reads them with a
 * YAML parser; `#cloud-config` on the first line marks user-data as config),
 * so a key or password is always one quoted string: it cannot end its
 * string or add keys of its own. Anything outside printable ASCII is
 * escaped as `\uXXXX`, which YAML's double-quoted strings read as JSON does
 * (a YAML reader refuses raw control characters and DEL).
 *
 * @example
 * ```ts
 * const image = buildSeedImage({
 *   instanceId: "vm-abc234",
 *   hostname: "vm-abc234",
 *   login: { user: "dbc", password: "s3cret-pass", sshKeys: [], passwordSsh: true },
 * });
 * ```
 */
import { buildFatImage } from "./fat_image.ts";

/** The volume label cloud-init looks for (it accepts `cidata` too). */
export const SEED_LABEL = "CIDATA";
export const SEED_FILES = { metaData: "meta-data", userData: "user-data" } as const;

export type GuestLogin = {
  user: string;
  password: string;
  sshKeys: readonly string[];
  /** Whether sshd takes the password too, or keys only (the password then serves the console). */
  passwordSsh: boolean;
};

export type SeedSpec = {
  /** cloud-init runs its once-per-instance steps again when this changes: the VM's id. */
  instanceId: string;
  hostname: string;
  login: GuestLogin;
};

/** `meta-data`: which instance this is and its host name. */
export function seedMetaData(spec: Pick<SeedSpec, "instanceId" | "hostname">): string {
  return `${asciiJson({ "instance-id": spec.instanceId, "local-hostname": spec.hostname })}\n`;
}

/**
 * `user-data`: one user (instead of the image's default one) with the
 * renter's keys and password, which never expires; sudo without a password,
 * since the renter may not know the generated one.
 */
export function seedUserData(spec: SeedSpec): string {
  const { login } = spec;
  const root = login.user === "root";
  const user = {
    name: login.user,
    ...(root ? {} : { sudo: "ALL=(ALL) NOPASSWD:ALL", shell: "/bin/bash" }),
    // cloud-init locks a user's password unless told otherwise.
    lock_passwd: false,
    // Set by useradd/chpasswd on every cloud-init version, unlike `chpasswd.users` (22.2+).
    plain_text_passwd: login.password,
    ssh_authorized_keys: [...login.sshKeys],
  };
  const config = {
    users: [user],
    chpasswd: { expire: false },
    ssh_pwauth: login.passwordSsh,
    // Images refuse root's SSH keys by default (a "log in as ..." stub in authorized_keys).
    ...(root ? { disable_root: false } : {}),
  };
  return `#cloud-config\n${asciiJson(config)}\n`;
}

/** The seed disk: a vfat image labelled {@link SEED_LABEL} with meta-data and user-data. */
export function buildSeedImage(spec: SeedSpec): Uint8Array {
  const encoder = new TextEncoder();
  return buildFatImage([
    { name: SEED_FILES.metaData, data: encoder.encode(seedMetaData(spec)) },
    { name: SEED_FILES.userData, data: encoder.encode(seedUserData(spec)) },
  ], { label: SEED_LABEL });
}

/** A seed whose user-data is a script instead of a login user's config. */
export type ScriptSeedSpec = {
  instanceId: string;
  hostname: string;
  /** Starts with `#!`: cloud-init runs such user-data once, at first boot, as root. */
  script: string;
};

/** The seed disk of a VM that runs a script at first boot and makes no login user. */
export function buildScriptSeedImage(spec: ScriptSeedSpec): Uint8Array {
  if (!spec.script.startsWith("#!")) throw new Error("a seed script starts with #!");
  const encoder = new TextEncoder();
  return buildFatImage([
    { name: SEED_FILES.metaData, data: encoder.encode(seedMetaData(spec)) },
    { name: SEED_FILES.userData, data: encoder.encode(spec.script) },
  ], { label: SEED_LABEL });
}

/**
 * Indented JSON in printable ASCII only. Outside strings JSON.stringify writes
 * nothing but punctuation, spaces and newlines, so whatever else there is
 * sits inside a string, where `\uXXXX` is a valid escape in JSON and YAML.
 */
function asciiJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(
    /[^\x20-\x7e\n]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}
