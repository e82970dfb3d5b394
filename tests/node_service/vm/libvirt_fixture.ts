/**
 * What the real-libvirt tests share: a check that libvirt answers (a clear
 * failure, never a skip, when it does not), the test guest built by
 * scripts/system/build_test_vm_image.sh, scratch directories QEMU can reach,
 * and clean-up of every domain a test made (by name prefix).
 */
import { createHash } from "node:crypto";
import { REPO_ROOT, scratchDir } from "../../helpers.ts";

export const LIBVIRT_URI = "qemu:///system";
/** No /dev/kvm here (and nested KVM stalls): tests emulate. */
export const TEST_DOMAIN_TYPE = "qemu" as const;

export type CommandOutput = { code: number; stdout: string; stderr: string };

export async function run(program: string, args: string[]): Promise<CommandOutput> {
  const output = await new Deno.Command(program, {
    args,
    stdout: "piped",
    stderr: "piped",
    env: { LC_ALL: "C" },
  })
    .output();
  return {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

export function virsh(...args: string[]): Promise<CommandOutput> {
  return run("virsh", ["-c", LIBVIRT_URI, ...args]);
}

/** Fails the test with the reason and the fix when libvirt cannot be used. */
export async function requireLibvirt(): Promise<void> {
  let output: CommandOutput;
  try {
    output = await virsh("list", "--all");
  } catch (error) {
    throw new Error(
      `virsh cannot run (${(error as Error).message}): run scripts/system/libvirt_setup.sh as root`,
    );
  }
  if (output.code !== 0) {
    throw new Error(
      `libvirt is not running or refuses ${LIBVIRT_URI}: ${output.stderr.trim()}\n` +
        "start it with scripts/system/libvirt_setup.sh (as root)",
    );
  }
}

export type TestGuest = {
  kernel: string;
  initrd: string;
  baseDisk: string;
  cmdline: string;
  marker: string;
};

let guest: Promise<TestGuest> | undefined;

/** The cached test guest (kernel, busybox initrd, blank qcow2), built on first use. */
export function testGuest(): Promise<TestGuest> {
  guest ??= (async () => {
    const output = await run("bash", [`${REPO_ROOT}/scripts/system/build_test_vm_image.sh`]);
    if (output.code !== 0) {
      throw new Error(`cannot build the test guest: ${output.stderr.trim()}`);
    }
    const values = new Map(
      output.stdout.split("\n").filter((line) => line.includes("=")).map((line) => {
        const at = line.indexOf("=");
        return [line.slice(0, at), line.slice(at + 1)] as const;
      }),
    );
    const value = (key: string) => {
      const found = values.get(key);
      if (!found) throw new Error(`build_test_vm_image.sh printed no ${key}`);
      return found;
    };
    return {
      kernel: value("DBC_TEST_KERNEL"),
      initrd: value("DBC_TEST_INITRD"),
      baseDisk: value("DBC_TEST_BASE_DISK"),
      cmdline: value("DBC_TEST_CMDLINE"),
      marker: value("DBC_TEST_MARKER"),
    };
  })();
  return guest;
}

/**
 * Every libvirt domain a test makes starts with this, and no node's default prefix (`dbc-`) does:
 * a node under test never sees another test's domains, nor a production node a test's.
 * `scripts/system/test_setup.sh` removes what an earlier, interrupted run left with it.
 */
export const TEST_DOMAIN_ROOT = "dbct-";

/** A fresh domain-name prefix, so parallel test files (and their nodes) never touch each other's domains. */
export function testPrefix(): string {
  return `${TEST_DOMAIN_ROOT}${crypto.randomUUID().slice(0, 8)}-`;
}

/** A scratch directory that libvirt's QEMU user can traverse (every scratch directory is). */
export function vmScratchDir(name: string): Promise<string> {
  return scratchDir(name);
}

/** Powers off and undefines every domain whose name starts with `prefix`. */
export async function removeDomains(prefix: string): Promise<string[]> {
  const listed = await virsh("list", "--all", "--name");
  const names = listed.stdout.split("\n").map((line) => line.trim())
    .filter((name) => name.startsWith(prefix));
  for (const name of names) {
    await virsh("destroy", name);
    await virsh("undefine", name, "--nvram");
  }
  return names;
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  // Reading `readable` to its end closes the file.
  const file = await Deno.open(path, { read: true });
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

/** `true` when something accepts TCP connections on 127.0.0.1:`port`. */
export async function tcpAccepts(port: number): Promise<boolean> {
  try {
    const connection = await Deno.connect({ hostname: "127.0.0.1", port });
    connection.close();
    return true;
  } catch {
    return false;
  }
}
