/**
 * A minimal POSIX ustar writer: directories and small regular files, owned by
 * a given uid/gid, for copying files into a container before it starts
 * (`PUT /containers/{id}/archive`). Bytes in, bytes out.
 */
import { concatBytes } from "../../../mod/mod.ts";

export type TarEntry =
  | { type: "dir"; path: string; mode: number; uid?: number; gid?: number }
  | { type: "file"; path: string; mode: number; content: Uint8Array; uid?: number; gid?: number };

const BLOCK = 512;
const encoder = new TextEncoder();

/** An octal field of `width` bytes: digits, then a NUL, as ustar wants. */
function octal(value: number, width: number): string {
  const digits = value.toString(8);
  if (digits.length > width - 1) {
    throw new RangeError(`${value} does not fit a ${width}-byte field`);
  }
  return digits.padStart(width - 1, "0") + "\0";
}

function header(entry: TarEntry, mtimeS: number): Uint8Array {
  const name = entry.type === "dir" && !entry.path.endsWith("/") ? `${entry.path}/` : entry.path;
  const nameBytes = encoder.encode(name);
  // Paths here are short and fixed by the node; the prefix field is not needed.
  if (nameBytes.length > 100) throw new RangeError(`tar path too long: ${name}`);
  if (name.startsWith("/") || name.split("/").includes("..")) {
    throw new RangeError(`tar path must be relative and stay inside: ${name}`);
  }
  // The name field ends at the first NUL: a name holding one would be read back cut short.
  if (name.includes("\0")) throw new RangeError(`tar path holds a NUL: ${JSON.stringify(name)}`);
  const block = new Uint8Array(BLOCK);
  const put = (offset: number, text: string) => block.set(encoder.encode(text), offset);
  block.set(nameBytes, 0);
  put(100, octal(entry.mode & 0o7777, 8));
  put(108, octal(entry.uid ?? 0, 8));
  put(116, octal(entry.gid ?? 0, 8));
  put(124, octal(entry.type === "file" ? entry.content.length : 0, 12));
  put(136, octal(mtimeS, 12));
  put(148, "        "); // The checksum counts its own field as spaces.
  put(156, entry.type === "file" ? "0" : "5");
  put(257, "ustar\0");
  put(263, "00");
  let sum = 0;
  for (const byte of block) sum += byte;
  put(148, octal(sum, 7) + " ");
  return block;
}

/** The archive of `entries`, in order, with the two zero blocks that end it. */
export function tarArchive(entries: readonly TarEntry[], mtimeS = 0): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const entry of entries) {
    parts.push(header(entry, mtimeS));
    if (entry.type === "file") {
      parts.push(entry.content);
      const padding = (BLOCK - (entry.content.length % BLOCK)) % BLOCK;
      parts.push(new Uint8Array(padding));
    }
  }
  parts.push(new Uint8Array(2 * BLOCK));
  return concatBytes(...parts);
}
