/** Time-outs and limits of the VM side of the node service, named in one place. */

/** One virsh command; starting a guest on a loaded host is the slowest. */
export const VIRSH_TIMEOUT_MS = 120_000;
/** One qemu-img command (create an overlay, read an image's header). */
export const QEMU_IMG_TIMEOUT_MS = 60_000;
/**
 * One qemu-img snapshot command or disk resize: these walk the refcounts of
 * every allocated cluster, which on a large, full disk takes a while.
 */
export const QEMU_IMG_SNAPSHOT_TIMEOUT_MS = 5 * 60_000;
/** Between two state checks while waiting for a guest to power off. */
export const VM_STATE_POLL_MS = 250;
/**
 * How long a guest has to power off when asked (ACPI) before it is forced
 * off, unless the request says otherwise. Inside the default request
 * time-out (30 s), so a caller with default settings hears the outcome.
 */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 25_000;
/**
 * How long a password change waits for a guest agent that is not connected yet (a guest just
 * started boots, then starts qemu-ga; an emulated one takes tens of seconds) before it answers
 * `unavailable`; inside the time-out both APIs give the call (5 minutes).
 */
export const PASSWD_AGENT_WAIT_MS = 60_000;
/** Between two tries of a password change while the guest agent is not connected. */
export const PASSWD_AGENT_RETRY_MS = 1_000;
/**
 * How long the node watches a guest it asked to shut down (the original's shutdown, answered at
 * once) to record whether it went off, unless the request says otherwise.
 */
export const SHUTDOWN_WATCH_MS = 5 * 60_000;
/** Between two state checks while watching a guest asked to shut down. */
export const SHUTDOWN_WATCH_POLL_MS = 1_000;
/** The most bytes of a console log read to answer one logs request. */
export const MAX_CONSOLE_READ_BYTES = 256 * 1024;
/** How often an image download reports progress to its record. */
export const IMAGE_PROGRESS_INTERVAL_MS = 500;
/** Downloads that stall this long are abandoned. */
export const IMAGE_DOWNLOAD_IDLE_TIMEOUT_MS = 60_000;
/** File names inside a VM's own directory. */
export const VM_FILES = {
  disk: "disk.qcow2",
  console: "console.log",
  domainXml: "domain.xml",
  /** The cloud-init NoCloud seed (vfat, read-only to the guest); it holds the login password. */
  seed: "seed.img",
} as const;
/** Characters of a password the node makes: about 116 bits from an alphabet without look-alikes. */
export const GENERATED_PASSWORD_LENGTH = 20;
/**
 * Mode of the VM and image directories: libvirt runs QEMU as its own user
 * (libvirt-qemu), which must traverse every directory above a disk.
 */
export const VM_DIR_MODE = 0o711;
export const IMAGE_DIR_MODE = 0o755;

/**
 * Sets a directory's mode so QEMU can traverse it; a directory the node does
 * not own keeps its mode (libvirt's error at start then says what is wrong).
 */
export function chmodIfOwned(path: string, mode: number): void {
  try {
    Deno.chmodSync(path, mode);
  } catch (error) {
    if (!(error instanceof Deno.errors.PermissionDenied)) throw error;
  }
}
