/**
 * One image server as the operator writes it in `image_servers`:
 * `<id>=<base URL>`, e.g. `mirror=https://images.example/dbc/` (the original
 * wrote `<id>,<ip>,<rsync port>,<module>`; here the server speaks HTTP and
 * WebDAV, so a URL says it all). A user name and password in the URL are sent
 * as HTTP basic authentication and never shown.
 *
 * @example
 * ```ts
 * parseImageServerEntry("lan=http://10.0.0.5:8080/images/");
 * // { ok: true, server: { id: "lan", url: "http://10.0.0.5:8080/images/" } }
 * ```
 */

/** An image server's id: what requests name it by. */
export const IMAGE_SERVER_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export type ImageServerEntry = { id: string; url: string };

export type ImageServerEntryResult =
  | { ok: true; server: ImageServerEntry }
  | { ok: false; message: string };

/** `<id>=<http(s) URL>`; the URL gets a trailing `/` (it names a directory). */
export function parseImageServerEntry(text: string): ImageServerEntryResult {
  const at = text.indexOf("=");
  if (at < 0) return { ok: false, message: `expected <id>=<URL>; got ${JSON.stringify(text)}` };
  const id = text.slice(0, at).trim();
  const raw = text.slice(at + 1).trim();
  if (!IMAGE_SERVER_ID.test(id)) {
    return { ok: false, message: `image server id ${JSON.stringify(id)}: letters, digits, . _ -` };
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, message: `image server ${id}: not a URL: ${JSON.stringify(raw)}` };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return { ok: false, message: `image server ${id}: expected an http or https URL` };
  }
  if (url.search !== "" || url.hash !== "") {
    return { ok: false, message: `image server ${id}: a base URL has no query or fragment` };
  }
  if (!url.pathname.endsWith("/")) url.pathname += "/";
  return { ok: true, server: { id, url: url.toString() } };
}
