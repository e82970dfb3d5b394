/**
 * Names of files on image servers and of the images they become here: plain
 * file names (no `/`, no `..`, nothing hidden), as `VmImageNameSchema` says,
 * checked again in the node service so a request that skipped the HTTP
 * schemas is refused the same way.
 */
import { TransferError } from "./requester.ts";

/** A plain file name: no '/', no leading '.', at most 128 characters. */
export const IMAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** `name` if it is a plain file name; otherwise a clear `invalid` refusal. */
export function checkFileName(name: string, what: string): string {
  if (!IMAGE_NAME.test(name) || name.includes("..") || name.endsWith(".part")) {
    throw new TransferError(
      "invalid",
      `${what} ${JSON.stringify(name)} is not a plain file name (letters, digits, '.', '_', '-'; ` +
        "no '/', no '..')",
    );
  }
  return name;
}

/** The URL of file `name` on the server at `base` (a directory URL). */
export function fileUrl(base: URL, name: string): URL {
  return new URL(encodeURIComponent(checkFileName(name, "file name")), base);
}
