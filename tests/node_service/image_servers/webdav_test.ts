/**
 * What image servers answer, read without I/O: WebDAV multistatus from
 * servers other than nginx (another namespace prefix, escaped and absolute
 * hrefs), nginx's JSON index, `sha256sum` sidecars; and the operator's
 * `image_servers` entries, refused by name when malformed.
 */
import assert from "node:assert/strict";
import { loadConfig, parseImageServerEntry } from "../../../mod/mod.ts";
import {
  checkFileName,
  fileUrl,
  parseJsonIndex,
  parseMultistatus,
  parseSha256Sidecar,
  TransferError,
} from "../../../node_service/image_servers/mod.ts";

const BASE = new URL("http://images.example/dbc/");

Deno.test("a multistatus with another prefix, escaped names and absolute hrefs is read", () => {
  const xml = `<?xml version="1.0"?>
<d:multistatus xmlns:d="DAV:">
  <d:response><d:href>http://images.example/dbc/</d:href>
    <d:propstat><d:prop><d:resourcetype><d:collection /></d:resourcetype></d:prop></d:propstat>
  </d:response>
  <d:response><d:href>/dbc/ubuntu%2022.04.qcow2</d:href>
    <d:propstat><d:prop><d:getcontentlength>2147483648</d:getcontentlength>
      <d:getlastmodified>Mon, 07 Dec 2026 04:54:51 GMT</d:getlastmodified>
      <d:resourcetype/></d:prop></d:propstat>
  </d:response>
  <d:response><d:href>/dbc/old/</d:href>
    <d:propstat><d:prop><d:resourcetype><d:collection/></d:resourcetype></d:prop></d:propstat>
  </d:response>
  <d:response><d:href>/dbc/a&amp;b.img</d:href>
    <d:propstat><d:prop><d:getcontentlength>12</d:getcontentlength></d:prop></d:propstat>
  </d:response>
</d:multistatus>`;
  assert.deepEqual(parseMultistatus(xml, BASE), [
    {
      name: "ubuntu 22.04.qcow2",
      directory: false,
      sizeBytes: 2147483648,
      modifiedAt: Date.UTC(2026, 11, 7, 4, 54, 51),
    },
    { name: "old", directory: true, sizeBytes: null, modifiedAt: null },
    { name: "a&b.img", directory: false, sizeBytes: 12, modifiedAt: null },
  ]);
});

Deno.test("nginx's JSON index is read; anything else is not an index", () => {
  assert.deepEqual(
    parseJsonIndex(
      '[{"name":"x.qcow2","type":"file","mtime":"Mon, 07 Dec 2026 04:54:51 GMT","size":5},' +
        '{"name":"sub","type":"directory","mtime":"Mon, 07 Dec 2026 04:54:51 GMT"}]',
    ),
    [
      {
        name: "x.qcow2",
        directory: false,
        sizeBytes: 5,
        modifiedAt: Date.UTC(2026, 11, 7, 4, 54, 51),
      },
      {
        name: "sub",
        directory: true,
        sizeBytes: null,
        modifiedAt: Date.UTC(2026, 11, 7, 4, 54, 51),
      },
    ],
  );
  assert.equal(parseJsonIndex("<html>index</html>"), undefined);
  assert.equal(parseJsonIndex('{"name":"x"}'), undefined);
});

Deno.test("a sidecar gives the digest for its file only", () => {
  const hex = "ab".repeat(32);
  assert.equal(parseSha256Sidecar(`${hex}  x.qcow2\n`, "x.qcow2"), hex);
  assert.equal(parseSha256Sidecar(`${hex.toUpperCase()} *x.qcow2`, "x.qcow2"), hex);
  assert.equal(parseSha256Sidecar(`${hex}\n`, "x.qcow2"), hex);
  assert.equal(parseSha256Sidecar(`${hex}  other.qcow2\n`, "x.qcow2"), undefined);
  assert.equal(parseSha256Sidecar("not a digest", "x.qcow2"), undefined);
});

Deno.test("file names are plain: no '/', no '..', nothing hidden", () => {
  assert.equal(checkFileName("ubuntu-22.04.qcow2", "f"), "ubuntu-22.04.qcow2");
  for (const bad of ["../x", "a/b", "..", ".x", "a..b", "", "x.part", "a b"]) {
    assert.throws(() => checkFileName(bad, "image_filename"), TransferError, bad);
  }
  assert.equal(fileUrl(BASE, "x.qcow2").toString(), "http://images.example/dbc/x.qcow2");
});

Deno.test("image_servers entries: id=URL, checked at start and named when wrong", () => {
  assert.deepEqual(parseImageServerEntry("lan=http://10.0.0.5:8080/images"), {
    ok: true,
    server: { id: "lan", url: "http://10.0.0.5:8080/images/" },
  });
  for (
    const [bad, reason] of [
      ["http://x/", /expected <id>=<URL>/],
      ["a/b=http://x/", /letters, digits/],
      ["lan=ftp://x/", /http or https/],
      ["lan=http://x/?q=1", /no query/],
      ["lan=not a url", /not a URL/],
    ] as const
  ) {
    const parsed = parseImageServerEntry(bad);
    assert.equal(parsed.ok, false, bad);
    assert.match((parsed as { message: string }).message, reason);
  }
  assert.throws(
    () =>
      loadConfig({
        args: ["--image-servers", "a=http://x/,a=http://y/"],
        env: {},
        cwd: "/tmp",
      }),
    /image_servers \(from flag --image-servers\): image server a twice/,
  );
});
