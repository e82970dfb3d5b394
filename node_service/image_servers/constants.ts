/** Limits and time-outs of image-server transfers, in one place. */

/** A transfer that moves no byte for this long is given up (or, a download, resumed). */
export const TRANSFER_IDLE_TIMEOUT_MS = 60_000;
/** How long a listing, a sidecar read or another small request may take. */
export const SMALL_REQUEST_TIMEOUT_MS = 30_000;
/** The most bytes a listing or a sidecar may have. */
export const MAX_SMALL_ANSWER_BYTES = 4 * 1024 * 1024;
/** How often a broken download goes on where it stopped before it is given up. */
export const MAX_DOWNLOAD_RESUMES = 5;
/** How long exporting a VM's disk or snapshot into one file (qemu-img convert) may take. */
export const EXPORT_TIMEOUT_MS = 2 * 60 * 60_000;
/** Finished transfers remembered (the oldest forgotten first); running ones always are. */
export const MAX_FINISHED_TRANSFERS = 200;
/** How often a running transfer's byte count is written to the database (its phases at once). */
export const TRANSFER_SAVE_INTERVAL_MS = 5_000;
/** Transfers running at once on one node. */
export const MAX_RUNNING_TRANSFERS = 4;
/** Where partial files live, inside the image directory (same volume: the final rename is atomic). */
export const TRANSFER_DIR_NAME = ".transfers";
/** The sidecar beside a file on a server: `sha256sum` output for it. */
export const SHA256_SIDECAR_SUFFIX = ".sha256";
/** The request process's one environment variable: basic-auth credentials, kept out of argv. */
export const AUTH_ENV = "DBC_IMAGE_SERVER_AUTH";
