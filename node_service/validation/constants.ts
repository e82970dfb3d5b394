/** Limits and names of validators' check VMs, in one place. */

/**
 * The owner recorded on a check VM: not an account, so the lease loop (which
 * follows only instances whose owner is an SS58 account) never takes it for a
 * renter's instance without a rental, and no renter route shows it to anyone.
 */
export const CHECK_VM_OWNER_PREFIX = "validator:";

/** Check VM ids: `chk-` and 16 hex digits (a valid instance id, and so a domain name part). */
export const CHECK_ID_PREFIX = "chk-";

/**
 * How far a declaration may exceed what the host itself reports before the
 * node refuses to make the check VM: the same 5% the ledger allows a guest to
 * see less than declared (firmware, kernel and file-system overhead), so an
 * honest owner who declared the machine's round figure is never refused.
 */
export const DECLARED_CAPACITY_TOLERANCE = 0.95;

/** After a failed slot-end deletion (libvirt down), it is tried again this much later. */
export const EXPIRE_RETRY_MS = 60_000;

/** The most a create may take, from the decision to a running VM (large disks, GPUs). */
export const CHECK_CREATE_TIMEOUT_MS = 15 * 60_000;

// Reading the guest's console (console_facts.ts): bounded whatever the guest prints.

/** Console lines read for one look at the facts (the node reads at most 256 KiB anyway). */
export const MAX_CONSOLE_LINES = 20_000;
/** A longer line is no line of the check script's. */
export const MAX_CHECK_LINE_CHARS = 1_024;
/** At most this many `DBC-CHECK` lines in one report are looked at. */
export const MAX_CHECK_LINES = 2_048;
/** At most this many block devices, PCI devices and nvidia-smi lines are kept. */
export const MAX_BLOCK_DEVICES = 256;
export const MAX_PCI_DEVICES = 512;
export const MAX_NVIDIA_SMI_LINES = 64;

/**
 * Display controllers the hypervisor itself emulates (`vendor:device`): every
 * VM has one for its VNC console, and none of them is a GPU the owner declared.
 */
export const EMULATED_DISPLAY_DEVICES: ReadonlySet<string> = new Set([
  "0x1234:0x1111", // QEMU standard VGA (Bochs)
  "0x1013:0x00b8", // Cirrus CLGD 5446
  "0x1b36:0x0100", // QXL
  "0x1af4:0x1050", // virtio-gpu
  "0x15ad:0x0405", // VMware SVGA II
]);
