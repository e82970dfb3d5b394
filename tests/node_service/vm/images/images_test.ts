/**
 * VM images over a real SQLite file, real files, real qemu-img and a real
 * HTTP server on loopback: add from a path (copied or registered in place)
 * and from a URL with progress and checksum, refusals, deletion rules, and
 * recovery of an add cut short by a restart.
 */
import assert from "node:assert/strict";
import { type DatabaseSync, openDatabase, type VmImage } from "../../../../mod/mod.ts";
import {
  ImageError,
  ImageStore,
  renterImageKey,
} from "../../../../node_service/vm/images/image_store.ts";
import { SERVICE_MIGRATIONS } from "../../../../node_service/migrations.ts";
import type { OutboundPolicy } from "../../../../node_service/host/mod.ts";
import { scratchDir, waitFor } from "../../../helpers.ts";
import { run, sha256File } from "../libvirt_fixture.ts";

type Setting = { dir: string; db: DatabaseSync; store: ImageStore; users: Map<string, string[]> };

/** The test servers listen on loopback: a node whose operator allows private addresses. */
const LOOPBACK_DOWNLOADS: OutboundPolicy = {
  hosts: ["127.0.0.1"],
  privateAddresses: "allow",
  deniedHosts: [],
};

async function withStore(
  work: (setting: Setting) => Promise<void>,
  downloads: OutboundPolicy = LOOPBACK_DOWNLOADS,
): Promise<void> {
  const dir = await scratchDir("vm-images");
  const db = openDatabase(`${dir}/node.db`, SERVICE_MIGRATIONS);
  const users = new Map<string, string[]>();
  const store = new ImageStore({
    db,
    imageDir: `${dir}/images`,
    now: Date.now,
    usersOf: (name) => users.get(name) ?? [],
    downloads,
  });
  try {
    await work({ dir, db, store, users });
  } finally {
    await store.close();
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
}

async function qcow2(path: string, size = "16M", backing?: string): Promise<void> {
  const args = [
    "create",
    "-q",
    "-f",
    "qcow2",
    ...(backing ? ["-F", "qcow2", "-b", backing] : []),
    path,
  ];
  if (!backing) args.push(size);
  const result = await run("qemu-img", args);
  assert.equal(result.code, 0, result.stderr);
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

Deno.test("an image copied from a local path is checked, hashed and ready", async () => {
  await withStore(async ({ dir, store }) => {
    await qcow2(`${dir}/source.qcow2`, "64M");
    const expected = await sha256File(`${dir}/source.qcow2`);
    const owner = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
    // A renter's image is stored under a key of its own; the renter knows it by its name.
    const key = renterImageKey(owner, "ubuntu.qcow2");
    const { image, done } = store.add(
      "ubuntu.qcow2",
      { kind: "path", path: `${dir}/source.qcow2` },
      expected,
      "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
    );
    assert.equal(image.state, "adding");
    // Who added it is kept with it: that renter alone may delete it.
    assert.equal(image.added_by, "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");
    const ready = await done;
    assert.equal(ready.state, "ready", ready.error ?? "");
    assert.equal(ready.format, "qcow2");
    assert.equal(ready.virtual_size_bytes, 64 * 2 ** 20);
    assert.equal(ready.sha256, expected);
    assert.equal(ready.size_bytes, (await Deno.stat(`${dir}/source.qcow2`)).size);
    assert.equal(ready.progress, null);
    const info = await Deno.stat(`${dir}/images/${key}`);
    // QEMU runs as libvirt's user: it must be able to read the image, and traverse the directory.
    assert.equal(info.mode! & 0o777, 0o644);
    assert.equal((await Deno.stat(`${dir}/images`)).mode! & 0o777, 0o755);
    assert.equal(await exists(`${dir}/images/${key}.part`), false);
    assert.deepEqual(store.readyImageFor(owner, "ubuntu.qcow2"), {
      name: key,
      path: `${dir}/images/${key}`,
      format: "qcow2",
      virtualSizeBytes: 64 * 2 ** 20,
    });
    assert.throws(
      () =>
        store.add("ubuntu.qcow2", { kind: "path", path: `${dir}/source.qcow2` }, undefined, owner),
      /already exists/,
    );
  });
});

Deno.test("a file already in the image directory is registered where it is", async () => {
  await withStore(async ({ dir, store }) => {
    await qcow2(`${dir}/images/inplace.qcow2`);
    const before = await Deno.stat(`${dir}/images/inplace.qcow2`);
    const ready = await store.add("inplace.qcow2", {
      kind: "path",
      path: `${dir}/images/../images/inplace.qcow2`,
    }).done;
    assert.equal(ready.state, "ready", ready.error ?? "");
    assert.equal(ready.added_by, null);
    assert.equal((await Deno.stat(`${dir}/images/inplace.qcow2`)).ino, before.ino);
  });
});

Deno.test("a URL download reports progress, then lands with its checksum", async () => {
  await withStore(async ({ dir, store }) => {
    await qcow2(`${dir}/served.qcow2`, "32M");
    const body = await Deno.readFile(`${dir}/served.qcow2`);
    const expected = await sha256File(`${dir}/served.qcow2`);
    let release!: () => void;
    const halfway = new Promise<void>((resolve) => (release = resolve));
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
      if (new URL(request.url).pathname !== "/image.qcow2") {
        return new Response("no", { status: 404 });
      }
      const half = Math.floor(body.length / 2);
      const stream = new ReadableStream<Uint8Array>({
        async start(controller) {
          controller.enqueue(body.subarray(0, half));
          await halfway;
          controller.enqueue(body.subarray(half));
          controller.close();
        },
      });
      return new Response(stream, { headers: { "content-length": String(body.length) } });
    });
    try {
      const base = `http://user:secret@127.0.0.1:${server.addr.port}`;
      const { done } = store.add(
        "web.qcow2",
        { kind: "url", url: `${base}/image.qcow2` },
        expected,
      );
      const seen = await waitFor("download progress", () => {
        const image = store.get("web.qcow2")!;
        return image.progress && image.progress.done_bytes > 0 ? image : undefined;
      });
      assert.equal(seen.state, "adding");
      assert.equal(seen.progress!.total_bytes, body.length);
      assert.ok(seen.progress!.done_bytes < body.length);
      // Credentials in a URL never reach the record.
      assert.doesNotMatch(seen.source, /secret/);
      release();
      const ready = await done;
      assert.equal(ready.state, "ready", ready.error ?? "");
      assert.equal(ready.sha256, expected);

      const missing = await store.add("missing.qcow2", { kind: "url", url: `${base}/nothing` })
        .done;
      assert.equal(missing.state, "failed");
      assert.match(missing.error!, /answered HTTP 404/);
      assert.equal(await exists(`${dir}/images/missing.qcow2.part`), false);
    } finally {
      await server.shutdown();
    }
  });
});

Deno.test("downloads reach only the operator's hosts: not by a name that resolves to loopback, not the chain, not by a redirect elsewhere", async () => {
  await qcowServed(async ({ port, file }) => {
    const add = async (policy: OutboundPolicy, url: string) => {
      let image!: VmImage;
      await withStore(async ({ store }) => {
        image = await store.add("web.qcow2", { kind: "url", url }, undefined).done;
      }, policy);
      return image;
    };
    const deny = { privateAddresses: "deny", deniedHosts: [] } as const;
    // Listed by name, but the name resolves to a loopback address: refused at the connection.
    const loopbackName = await add(
      { ...deny, hosts: ["localhost"] },
      `http://localhost:${port}/${file}`,
    );
    assert.equal(loopbackName.state, "failed");
    assert.match(loopbackName.error!, /resolves to a loopback, private or link-local address/);
    // The same, where the operator allows private addresses (a mirror on the LAN): it lands.
    const allowed = await add(
      { hosts: ["localhost"], privateAddresses: "allow", deniedHosts: [] },
      `http://localhost:${port}/${file}`,
    );
    assert.equal(allowed.state, "ready", allowed.error ?? "");
    // A literal private address, listed: still refused while private addresses are denied.
    const literal = await add(
      { ...deny, hosts: ["127.0.0.1"] },
      `http://127.0.0.1:${port}/${file}`,
    );
    assert.equal(literal.state, "failed");
    // The chain's RPC host is never an image host, even when listed.
    const chain = await add(
      { hosts: ["127.0.0.1"], privateAddresses: "allow", deniedHosts: [`127.0.0.1:${port}`] },
      `http://127.0.0.1:${port}/${file}`,
    );
    assert.equal(chain.state, "failed");
    assert.match(chain.error!, /chain's RPC host/);
    // A listed host that redirects to one that is not listed: the redirect is not followed.
    const redirect = await add(
      { hosts: [`127.0.0.1:${port}`], privateAddresses: "allow", deniedHosts: [] },
      `http://127.0.0.1:${port}/away`,
    );
    assert.equal(redirect.state, "failed");
    assert.match(redirect.error!, /not a host this node downloads from/);
    // No hosts at all: refused before anything runs.
    const none = await add(
      { hosts: [], privateAddresses: "allow", deniedHosts: [] },
      `http://127.0.0.1:${port}/${file}`,
    );
    assert.equal(none.state, "failed");
    assert.match(none.error!, /downloads VM images from no host/);
  });
});

/** Serves a small qcow2 at /image.qcow2 on loopback, and /away redirects to another port. */
async function qcowServed(
  work: (served: { port: number; file: string }) => Promise<void>,
): Promise<void> {
  const dir = await scratchDir("vm-images-served");
  await qcow2(`${dir}/served.qcow2`, "1M");
  const body = await Deno.readFile(`${dir}/served.qcow2`);
  const server: Deno.HttpServer<Deno.NetAddr> = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: () => {},
  }, (request): Response => {
    const path = new URL(request.url).pathname;
    if (path === "/away") {
      return Response.redirect(`http://localhost:${server.addr.port}/image.qcow2`, 302);
    }
    return path === "/image.qcow2"
      ? new Response(body, { headers: { "content-length": String(body.length) } })
      : new Response("no", { status: 404 });
  });
  try {
    await work({ port: server.addr.port, file: "image.qcow2" });
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a wrong checksum, a backing file or an unreadable source fails the add and leaves no file", async () => {
  await withStore(async ({ dir, store }) => {
    await qcow2(`${dir}/plain.qcow2`);
    const wrong = await store.add(
      "wrong.qcow2",
      { kind: "path", path: `${dir}/plain.qcow2` },
      "0".repeat(64),
    ).done;
    assert.equal(wrong.state, "failed");
    assert.match(wrong.error!, /checksum mismatch: expected sha256 0{64}, got [0-9a-f]{64}/);
    assert.equal(await exists(`${dir}/images/wrong.qcow2`), false);

    await qcow2(`${dir}/overlay.qcow2`, "", `${dir}/plain.qcow2`);
    const backed = await store.add("backed.qcow2", { kind: "path", path: `${dir}/overlay.qcow2` })
      .done;
    assert.equal(backed.state, "failed");
    assert.match(backed.error!, /names a backing file/);

    const absent = await store.add("absent.qcow2", { kind: "path", path: `${dir}/nope.qcow2` })
      .done;
    assert.match(absent.error!, /no such file/);
    assert.deepEqual([...Deno.readDirSync(`${dir}/images`)].map((entry) => entry.name), []);

    // A failed add can be tried again under the same name.
    const retried = await store.add("wrong.qcow2", { kind: "path", path: `${dir}/plain.qcow2` })
      .done;
    assert.equal(retried.state, "ready");
    assert.throws(
      () => store.add("../escape", { kind: "path", path: `${dir}/plain.qcow2` }),
      ImageError,
    );
  });
});

Deno.test("an image in use cannot be deleted; a free one goes with its file", async () => {
  await withStore(async ({ dir, store, users }) => {
    await qcow2(`${dir}/base.qcow2`);
    await store.add("base.qcow2", { kind: "path", path: `${dir}/base.qcow2` }).done;
    users.set("base.qcow2", ["vm-abcdefghij"]);
    assert.throws(() => store.delete("base.qcow2"), (error: unknown) => {
      assert.ok(error instanceof ImageError);
      assert.equal(error.kind, "conflict");
      assert.match(error.message, /in use by VM vm-abcdefghij/);
      return true;
    });
    assert.deepEqual(store.get("base.qcow2")!.used_by, ["vm-abcdefghij"]);
    users.delete("base.qcow2");
    store.delete("base.qcow2");
    assert.equal(await exists(`${dir}/images/base.qcow2`), false);
    assert.deepEqual(store.list(), []);
    assert.throws(() => store.delete("base.qcow2"), /no image base.qcow2/);
  });
});

Deno.test("an add cut short by a restart is marked failed and its partial file removed", async () => {
  await withStore(async ({ dir, db }) => {
    db.prepare(
      "INSERT INTO vm_images (name, state, source, added_at, updated_at) VALUES ('half.qcow2', 'adding', 'x', 1, 1)",
    ).run();
    await Deno.writeTextFile(`${dir}/images/half.qcow2.part`, "partial");
    const again = new ImageStore({
      db,
      imageDir: `${dir}/images`,
      now: Date.now,
      usersOf: () => [],
    });
    assert.deepEqual(again.recoverInterrupted(), ["half.qcow2"]);
    const image: VmImage = again.get("half.qcow2")!;
    assert.equal(image.state, "failed");
    assert.match(image.error!, /interrupted by a node restart/);
    assert.equal(await exists(`${dir}/images/half.qcow2.part`), false);
  });
});
