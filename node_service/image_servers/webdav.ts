/**
 * What image servers answer, read without I/O: a WebDAV `PROPFIND` listing
 * (RFC 4918 multistatus, as nginx's dav-ext module writes it), or, from a
 * server without PROPFIND, nginx's JSON directory index
 * (`autoindex_format json`); and a `sha256sum` sidecar file.
 */
import { IMAGE_NAME } from "./names.ts";
import { SHA256_SIDECAR_SUFFIX } from "./constants.ts";

/** One entry of a directory listing. */
export type ListedEntry = {
  name: string;
  directory: boolean;
  sizeBytes: number | null;
  modifiedAt: number | null;
};

/** The PROPFIND body asking for what a listing shows. */
export const PROPFIND_BODY = `<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:"><D:prop><D:getcontentlength/><D:getlastmodified/><D:resourcetype/></D:prop></D:propfind>`;

const ENTITIES: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
};

function decodeXmlText(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|\w+);/gi, (whole, name: string) => {
    if (name.startsWith("#x") || name.startsWith("#X")) {
      return String.fromCodePoint(parseInt(name.slice(2), 16));
    }
    if (name.startsWith("#")) return String.fromCodePoint(parseInt(name.slice(1), 10));
    return ENTITIES[name] ?? whole;
  });
}

/** The text of the first element named `local` (any namespace prefix) in `xml`, or undefined. */
function element(xml: string, local: string): string | undefined {
  const match = new RegExp(
    `<(?:[A-Za-z][\\w.-]*:)?${local}(?:\\s[^>]*)?(?:/>|>([\\s\\S]*?)</(?:[A-Za-z][\\w.-]*:)?${local}\\s*>)`,
    "i",
  ).exec(xml);
  if (!match) return undefined;
  return match[1] ?? "";
}

/** The last path segment of an href, percent-decoded; undefined for the collection itself. */
function nameOfHref(href: string, base: URL): string | undefined {
  let path: string;
  try {
    path = new URL(href, base).pathname;
  } catch {
    return undefined;
  }
  if (path.replace(/\/+$/, "") === base.pathname.replace(/\/+$/, "")) return undefined;
  const segment = path.replace(/\/+$/, "").split("/").at(-1);
  if (!segment) return undefined;
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/** The entries of a `PROPFIND` (Depth: 1) multistatus for the collection at `base`. */
export function parseMultistatus(xml: string, base: URL): ListedEntry[] {
  const entries: ListedEntry[] = [];
  const responses = xml.split(/<(?:[A-Za-z][\w.-]*:)?response[\s>]/i).slice(1);
  for (const response of responses) {
    const href = element(response, "href");
    if (href === undefined) continue;
    const name = nameOfHref(decodeXmlText(href.trim()), base);
    if (name === undefined) continue;
    const type = element(response, "resourcetype") ?? "";
    const lengthText = element(response, "getcontentlength")?.trim();
    const length = lengthText ? Number(lengthText) : NaN;
    const modified = Date.parse(decodeXmlText((element(response, "getlastmodified") ?? "").trim()));
    entries.push({
      name,
      directory: /<(?:[A-Za-z][\w.-]*:)?collection[\s/>]/i.test(type),
      sizeBytes: Number.isSafeInteger(length) && length >= 0 ? length : null,
      modifiedAt: Number.isFinite(modified) ? modified : null,
    });
  }
  return entries;
}

/** The entries of nginx's `autoindex_format json` index: `[{name, type, mtime, size}]`. */
export function parseJsonIndex(text: string): ListedEntry[] | undefined {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(data)) return undefined;
  const entries: ListedEntry[] = [];
  for (const item of data) {
    if (typeof item !== "object" || item === null) continue;
    const { name, type, size, mtime } = item as Record<string, unknown>;
    if (typeof name !== "string") continue;
    const modified = typeof mtime === "string" ? Date.parse(mtime) : NaN;
    entries.push({
      name,
      directory: type === "directory",
      sizeBytes: typeof size === "number" && Number.isSafeInteger(size) && size >= 0 ? size : null,
      modifiedAt: Number.isFinite(modified) ? modified : null,
    });
  }
  return entries;
}

/** The image files of a listing (plain names, no sidecars), each saying whether it has one. */
export function imageFiles(entries: ListedEntry[]): Array<ListedEntry & { hasSha256: boolean }> {
  const names = new Set(entries.filter((entry) => !entry.directory).map((entry) => entry.name));
  return entries
    .filter((entry) =>
      !entry.directory && IMAGE_NAME.test(entry.name) &&
      !entry.name.endsWith(SHA256_SIDECAR_SUFFIX)
    )
    .map((entry) => ({ ...entry, hasSha256: names.has(`${entry.name}${SHA256_SIDECAR_SUFFIX}`) }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * The SHA-256 a sidecar gives for `name`: `sha256sum` output (`<hex>  <name>`, or
 * `<hex> *<name>`), or a bare hex digest. Undefined when it names no digest for that file.
 */
export function parseSha256Sidecar(text: string, name: string): string | undefined {
  for (const line of text.split(/\r?\n/)) {
    const match = /^\s*([0-9a-fA-F]{64})(?:\s+\*?(.+?))?\s*$/.exec(line);
    if (!match) continue;
    const file = match[2];
    if (file === undefined || file === name || file.split("/").at(-1) === name) {
      return match[1]!.toLowerCase();
    }
  }
  return undefined;
}

/** A sidecar's text for `name`, as `sha256sum` writes it. */
export function sha256SidecarText(sha256: string, name: string): string {
  return `${sha256}  ${name}\n`;
}
