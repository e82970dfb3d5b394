/**
 * Image servers through the HTTP API, natively (`/api/v1/image_servers`,
 * `/api/v1/image_transfers`, operations with progress over SSE) and in the
 * original dialect (`/api/v1/images/servers|download|downloadprogress|
 * download_stop|upload|uploadprogress|upload_stop`, `/api/v1/images` with an
 * `image_server`). Behind the apps, the node service's real image-server
 * handlers and image store, a real nginx with WebDAV on loopback, every call
 * checked against the message catalogue both ways as at the worker boundary.
 */
import assert from "node:assert/strict";
import { type AppDeps, createApp } from "../../http/mod.ts";
import { type Method, RpcError, silentLogger } from "../../mod/mod.ts";
import { scratchDir, waitFor } from "../helpers.ts";
import {
  MIB,
  openImageServers,
  publish,
  randomImage,
  type Setting,
  withImageServers,
} from "../node_service/image_servers/image_server_fixture.ts";
import { INTERRUPTED_ERROR } from "../../node_service/image_servers/mod.ts";
import { type Nginx, startNginx, startRelay } from "../node_service/image_servers/nginx_fixture.ts";
import { renterImageKey } from "../../node_service/vm/mod.ts";
import { devWallets } from "../wallets.ts";
import { appRequest, type Credentials } from "./app_request.ts";
import { checkedCall } from "./checked_call.ts";
import { gpuNode, send } from "./compat_fixture.ts";

/** The image-server handlers of `setting`, the rest from `fallback`, checked both ways. */
function imageServerCall(setting: Setting, fallback: AppDeps["call"]): AppDeps["call"] {
  return checkedCall(setting.started.handlers, fallback);
}

/** The events of a finished SSE stream: `[event, parsed data]`. */
async function readEvents(response: Response): Promise<Array<[string, Record<string, unknown>]>> {
  const text = await response.text();
  return text.split("\n\n").filter((block) => block.trim() !== "").map((block) => {
    const event = /^event: (.*)$/m.exec(block)?.[1] ?? "message";
    const data = /^data: (.*)$/m.exec(block)?.[1] ?? "{}";
    return [event, JSON.parse(data)];
  });
}

async function withServer(
  work: (nginx: Nginx, setting: Setting) => Promise<void>,
): Promise<void> {
  // Slow answers, so a transfer is seen (and stopped) half-way.
  const nginx = await startNginx({ rateBytes: 2 * MIB });
  try {
    await withImageServers([`lan=${nginx.url}`], (setting) => work(nginx, setting));
  } finally {
    await nginx.stop();
  }
}

Deno.test("native: list, download with SSE progress, upload, stop; strangers and bad names refused", async () => {
  const { alice, bob } = await devWallets();
  await withServer(async (nginx, setting) => {
    const node = await gpuNode({ renters: [alice.address] });
    try {
      const app = createApp({
        call: imageServerCall(setting, node.call),
        log: silentLogger,
        node: { nodeId: node.nodeId, role: "gpu", forwardTimeoutMs: 5_000 },
      });
      const request = (method: string, path: string, auth: Credentials = {}, body?: unknown) =>
        appRequest(app, method, path, auth, body);
      const here = { peer_nodes_list: [node.nodeId] };
      const q = `?node_id=${node.nodeId}`;
      const sha256 = await publish(nginx, "ubuntu.img", 3 * MIB);

      const servers = await request("GET", `/api/v1/image_servers${q}`, { signer: alice });
      assert.deepEqual(servers.body.data, { servers: [{ id: "lan", url: nginx.url }] });
      const files = await request("GET", `/api/v1/image_servers/lan/files${q}`, { signer: alice });
      assert.deepEqual(files.body.data.files.map((f: { name: string }) => f.name), ["ubuntu.img"]);
      assert.equal(files.body.data.files[0].has_sha256, true);

      // Not the renter, not signed, a bad name: refused, and nothing starts.
      const stranger = await request("POST", "/api/v1/image_servers/lan/download", {
        signer: bob,
      }, { ...here, remote_name: "ubuntu.img" });
      assert.equal(stranger.status, 403, JSON.stringify(stranger.body));
      const unsigned = await request("POST", "/api/v1/image_servers/lan/download", {}, {
        ...here,
        remote_name: "ubuntu.img",
      });
      assert.equal(unsigned.status, 401);
      for (const name of ["../etc/passwd", "a/b.img", ".."]) {
        const bad = await request("POST", "/api/v1/image_servers/lan/download", {
          signer: alice,
        }, { ...here, remote_name: name });
        assert.equal(bad.status, 400, name);
        assert.equal(bad.body.error_code, -25);
      }
      const nowhere = await request("POST", "/api/v1/image_servers/elsewhere/download", {
        signer: alice,
      }, { ...here, remote_name: "ubuntu.img" });
      assert.equal(nowhere.status, 404);
      assert.match(nowhere.body.error_message, /image_server not exist: elsewhere/);
      assert.deepEqual(setting.started.transfers.list(), []);

      const started = await request("POST", "/api/v1/image_servers/lan/download", {
        signer: alice,
      }, { ...here, remote_name: "ubuntu.img" });
      assert.equal(started.status, 202, JSON.stringify(started.body));
      const { operation_id, transfer_id } = started.body.data;
      const stream = await app.request(`/api/v1/operations/${operation_id}/events`);
      const events = await readEvents(stream);
      const last = events.at(-1)!;
      assert.equal(last[0], "done", JSON.stringify(last[1]));
      const progress = events.map(([, data]) => data.progress as { done_bytes: number })
        .filter((p) => p !== undefined);
      assert.ok(progress.some((p) => p.done_bytes > 0 && p.done_bytes < 3 * MIB), "half-way");
      assert.deepEqual(last[1].progress, {
        phase: "finished",
        done_bytes: 3 * MIB,
        total_bytes: 3 * MIB,
      });
      // The renter's own image now, checked against the server's sidecar.
      assert.equal(setting.store.getFor(alice.address, "ubuntu.img")?.sha256, sha256);
      const mine = await request("GET", `/api/v1/image_transfers/${transfer_id}${q}`, {
        signer: alice,
      });
      assert.equal(mine.body.data.state, "done");
      const theirs = await request("GET", `/api/v1/image_transfers/${transfer_id}${q}`, {
        signer: bob,
      });
      assert.equal(theirs.status, 404);

      // Upload the renter's image back under another name.
      const up = await request("POST", "/api/v1/image_servers/lan/upload", { signer: alice }, {
        ...here,
        source: { kind: "image", name: "ubuntu.img" },
        remote_name: "copy.img",
      });
      assert.equal(up.status, 202, JSON.stringify(up.body));
      const upEvents = await readEvents(
        await app.request(`/api/v1/operations/${up.body.data.operation_id}/events`),
      );
      assert.equal(upEvents.at(-1)![0], "done", JSON.stringify(upEvents.at(-1)));
      assert.equal(
        await Deno.readTextFile(`${nginx.root}/copy.img.sha256`),
        `${sha256}  copy.img\n`,
      );

      // A download stopped half-way: the operation fails with the reason, nothing is left.
      await publish(nginx, "big.img", 8 * MIB);
      const big = await request("POST", "/api/v1/image_servers/lan/download", { signer: alice }, {
        ...here,
        remote_name: "big.img",
      });
      await waitFor("bytes arriving", async () => {
        const now = await request(
          "GET",
          `/api/v1/image_transfers/${big.body.data.transfer_id}${q}`,
          {
            signer: alice,
          },
        );
        return now.body.data.done_bytes > 0 ? true : undefined;
      });
      const stopped = await request(
        "POST",
        `/api/v1/image_transfers/${big.body.data.transfer_id}/stop`,
        { signer: alice },
        here,
      );
      assert.equal(stopped.status, 200, JSON.stringify(stopped.body));
      assert.equal(stopped.body.data.state, "stopped");
      const bigEvents = await readEvents(
        await app.request(`/api/v1/operations/${big.body.data.operation_id}/events`),
      );
      assert.equal(bigEvents.at(-1)![0], "failed");
      assert.match(JSON.stringify(bigEvents.at(-1)![1]), /stopped by/);
      assert.equal(setting.store.getFor(alice.address, "big.img"), undefined);
      const listed = await request("GET", `/api/v1/image_transfers${q}`, { signer: alice });
      assert.deepEqual(
        listed.body.data.transfers.map((t: { kind: string; state: string }) =>
          `${t.kind} ${t.state}`
        ),
        ["download stopped", "upload done", "download done"],
      );
    } finally {
      await node.close();
    }
  });
});

Deno.test("original dialect: servers, an image server's files, download and upload with progress and stop", async () => {
  const { alice } = await devWallets();
  await withServer(async (nginx, setting) => {
    const node = await gpuNode({ renters: [alice.address] });
    try {
      const app = node.makeApp(imageServerCall(setting, node.call));
      const body = (additional: Record<string, unknown>) => node.signedBody(alice, additional);
      await publish(nginx, "ubuntu.img", 2 * MIB);

      assert.deepEqual(await send(app, "/api/v1/images/servers", {}), {
        status: 200,
        body: { errcode: 0, message: { image_server: ["lan"] } },
      });
      assert.deepEqual(
        await send(app, "/api/v1/images", {
          peer_nodes_list: [],
          additional: { image_server: "lan" },
        }),
        {
          status: 200,
          body: { errcode: 0, message: [{ image_name: "ubuntu.img", image_size: "2M" }] },
        },
      );
      const unknown = await send(app, "/api/v1/images", {
        peer_nodes_list: [],
        additional: { image_server: "nope" },
      });
      assert.equal(unknown.body.errcode, 1);
      assert.match(unknown.body.message, /image_server not exist: nope/);

      const bad = await send(
        app,
        "/api/v1/images/download",
        body({ image_server: "lan", image_filename: "../../etc/passwd" }),
      );
      assert.equal(bad.body.errcode, 1);
      assert.match(bad.body.message, /not a plain file name|image file name/);

      assert.deepEqual(
        await send(
          app,
          "/api/v1/images/download",
          body({ image_server: "lan", image_filename: "ubuntu.img", local_dir: "/data" }),
        ),
        { status: 200, body: { errcode: 0, message: "ok" } },
      );
      const seen = new Set<string>();
      await waitFor("the download to finish", async () => {
        const answer = await send(
          app,
          "/api/v1/images/downloadprogress",
          body({ image_filename: "ubuntu.img" }),
        );
        assert.equal(answer.body.errcode, 0, JSON.stringify(answer.body));
        seen.add(answer.body.message.status);
        return answer.body.message.status === "done" ? answer.body.message : undefined;
      });
      assert.ok(seen.has("downloading"), [...seen].join());
      assert.equal(setting.store.getFor(alice.address, "ubuntu.img")?.state, "ready");

      // The same name is on the server already: refused, in the original's errcode.
      const taken = await send(
        app,
        "/api/v1/images/upload",
        body({ image_server: "lan", image_filename: "ubuntu.img" }),
      );
      assert.equal(taken.body.errcode, 1);
      assert.match(taken.body.message, /already exists on image server lan/);
      await Deno.remove(`${nginx.root}/ubuntu.img`);
      await Deno.remove(`${nginx.root}/ubuntu.img.sha256`);
      assert.deepEqual(
        (await send(
          app,
          "/api/v1/images/upload",
          body({ image_server: "lan", image_filename: "ubuntu.img" }),
        ))
          .body,
        { errcode: 0, message: "ok" },
      );
      await waitFor("the upload to finish", async () => {
        const answer = await send(
          app,
          "/api/v1/images/uploadprogress",
          body({ image_filename: "ubuntu.img" }),
        );
        return answer.body.message.status === "done" ? true : undefined;
      });
      assert.equal((await Deno.stat(`${nginx.root}/ubuntu.img`)).size, 2 * MIB);

      // Stop a download: "ok", then its progress says it stopped; no image is left.
      await publish(nginx, "big.img", 8 * MIB);
      await send(
        app,
        "/api/v1/images/download",
        body({ image_server: "lan", image_filename: "big.img" }),
      );
      await waitFor("bytes arriving", async () => {
        const answer = await send(
          app,
          "/api/v1/images/downloadprogress",
          body({ image_filename: "big.img" }),
        );
        return answer.body.message.progress !== "0%" ? true : undefined;
      });
      assert.deepEqual(
        (await send(app, "/api/v1/images/download_stop", body({ image_filename: "big.img" }))).body,
        { errcode: 0, message: "ok" },
      );
      const after = await send(
        app,
        "/api/v1/images/downloadprogress",
        body({ image_filename: "big.img" }),
      );
      assert.equal(after.body.errcode, 1);
      assert.match(after.body.message, /download of big.img stopped/);
      assert.equal(setting.store.getFor(alice.address, "big.img"), undefined);
      const again = await send(
        app,
        "/api/v1/images/download_stop",
        body({ image_filename: "big.img" }),
      );
      assert.equal(again.body.errcode, 1);
      assert.match(again.body.message, /not in downloading/);
    } finally {
      await node.close();
    }
  });
});

Deno.test("operator: the token's holder downloads a shared image and sees every transfer", async () => {
  const TOKEN = "operator-token-for-the-test";
  await withServer(async (nginx, setting) => {
    const node = await gpuNode({ renters: [] });
    try {
      const app = createApp({
        call: imageServerCall(setting, node.call),
        log: silentLogger,
        node: { nodeId: node.nodeId, role: "gpu", forwardTimeoutMs: 5_000 },
        operatorToken: TOKEN,
        clientAddress: () => "127.0.0.1",
      });
      const operator = async (method: string, path: string, body?: unknown, token = TOKEN) => {
        const response = await app.request(path, {
          method,
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        return { status: response.status, body: await response.json() };
      };
      const sha256 = await publish(nginx, "debian.img", 1 * MIB);

      const wrong = await operator("GET", "/api/v1/operator/image_servers", undefined, "nope");
      assert.equal(wrong.status, 401);
      const servers = await operator("GET", "/api/v1/operator/image_servers");
      assert.deepEqual(servers.body.data.servers.map((s: { id: string }) => s.id), ["lan"]);
      const started = await operator("POST", "/api/v1/operator/image_servers/lan/download", {
        remote_name: "debian.img",
      });
      assert.equal(started.status, 202, JSON.stringify(started.body));
      const events = await readEvents(
        await app.request(`/api/v1/operations/${started.body.data.operation_id}/events`),
      );
      assert.equal(events.at(-1)![0], "done", JSON.stringify(events.at(-1)));
      // The operator's image: shared, under its own name.
      assert.equal(setting.store.get("debian.img")?.sha256, sha256);
      assert.equal(setting.store.get("debian.img")?.added_by, null);
      const all = await operator("GET", "/api/v1/operator/image_transfers");
      assert.deepEqual(
        all.body.data.transfers.map((t: { owner: string | null; state: string }) => [
          t.owner,
          t.state,
        ]),
        [[null, "done"]],
      );
    } finally {
      await node.close();
    }
  });
});

Deno.test("original dialect: /snapshot/create with an image_server also uploads the snapshot", async () => {
  const { alice } = await devWallets();
  await withServer(async (nginx, setting) => {
    const node = await gpuNode({ renters: [alice.address] });
    const id = "vm-compat1";
    const disk = `${setting.vmDir}/${id}/disk.qcow2`;
    await Deno.mkdir(`${setting.vmDir}/${id}`);
    const made = await new Deno.Command("qemu-img", {
      args: ["create", "-q", "-f", "qcow2", disk, "16M"],
    }).output();
    assert.equal(made.code, 0);
    setting.vms.set(id, { id, owner: alice.address, state: "stopped" });
    // The VM service's two calls this endpoint makes, on the VM's real disk; the rest as the
    // compat fixture's GPU node answers.
    const vmCalls = (async (method: Method, params: never) => {
      const args = params as { id: string; name: string };
      if (method === "vm.get") return { ...setting.vms.get(args.id), id: args.id };
      if (method === "vm.snapshot_create") {
        const taken = await new Deno.Command("qemu-img", {
          args: ["snapshot", "-c", args.name, disk],
        }).output();
        assert.equal(taken.code, 0);
        setting.snapshots.set(args.id, [args.name]);
        return {};
      }
      return await node.call(method as never, params);
    }) as AppDeps["call"];
    try {
      const app = node.makeApp(imageServerCall(setting, vmCalls));
      const body = (additional: Record<string, unknown>) => node.signedBody(alice, additional);
      const unknown = await send(
        app,
        `/api/v1/snapshot/create/${id}`,
        body({ snapshot_name: "s1", desc: "", image_server: "nope" }),
      );
      assert.deepEqual(unknown.body, { errcode: 1, message: "image_server not exist" });
      assert.deepEqual(setting.snapshots.get(id), undefined);

      const created = await send(
        app,
        `/api/v1/snapshot/create/${id}`,
        body({ snapshot_name: "s1", desc: "before", image_server: "lan" }),
      );
      assert.deepEqual(created.body, { errcode: 0, message: "ok" });
      await waitFor("the snapshot's upload", async () => {
        const answer = await send(
          app,
          "/api/v1/images/uploadprogress",
          body({ image_filename: `${id}-s1.qcow2` }),
        );
        assert.equal(answer.body.errcode, 0, JSON.stringify(answer.body));
        return answer.body.message.status === "done" ? true : undefined;
      });
      const info = JSON.parse(
        new TextDecoder().decode(
          (await new Deno.Command("qemu-img", {
            args: ["info", "--output=json", `${nginx.root}/${id}-s1.qcow2`],
          }).output()).stdout,
        ),
      );
      assert.equal(info.format, "qcow2");
      assert.equal(info["virtual-size"], 16 * MIB);
      assert.match(
        await Deno.readTextFile(`${nginx.root}/${id}-s1.qcow2.sha256`),
        new RegExp(`^[0-9a-f]{64}  ${id}-s1\\.qcow2\\n$`),
      );
    } finally {
      await node.close();
    }
  });
});

/**
 * The node service's `vm_image.list` and `vm_image.delete` over the setting's real image store
 * (the VM service's handlers map its errors the same way), the rest from `fallback`.
 */
function withImageHandlers(setting: Setting, fallback: AppDeps["call"]): AppDeps["call"] {
  return (async (method: Method, params: never) => {
    const { owner, name } = params as { owner: string; name: string };
    if (method === "vm_image.list") return { images: setting.store.listFor(owner) };
    if (method !== "vm_image.delete") return await fallback(method as never, params);
    try {
      setting.store.deleteFor(owner, name);
    } catch (error) {
      // The store's ImageError: its kind is the RPC code.
      const { kind, message } = error as { kind?: string; message: string };
      throw kind ? new RpcError(kind as never, message) : error;
    }
    return { name, deleted: true };
  }) as AppDeps["call"];
}

Deno.test("original dialect: /images/delete deletes the renter's own image, with the native refusals", async () => {
  const { alice, bob } = await devWallets();
  const nginx = await startNginx();
  // A slow uplink, so an upload is seen under way.
  const relay = startRelay(nginx.port, { upstreamBytesPerSecond: 1 * MIB });
  try {
    await withImageServers([`lan=${relay.url}`], async (setting) => {
      const node = await gpuNode({ renters: [alice.address] });
      try {
        const app = node.makeApp(imageServerCall(setting, withImageHandlers(setting, node.call)));
        const remove = async (wallet: typeof alice, filename: string) =>
          (await send(
            app,
            "/api/v1/images/delete",
            node.signedBody(wallet, { image_filename: filename }),
          )).body;
        await randomImage(`${setting.dir}/source.img`, 8 * MIB);
        const added = setting.store.add(
          "mine.img",
          { kind: "path", path: `${setting.dir}/source.img` },
          undefined,
          alice.address,
        );
        assert.equal((await added.done).state, "ready");
        const key = renterImageKey(alice.address, "mine.img");

        const missing = await remove(alice, "nope.img");
        assert.equal(missing.errcode, 1);
        assert.match(missing.message, /image file:nope.img is not exist/);
        // Another renter's image is not there for bob.
        const others = await remove(bob, "mine.img");
        assert.equal(others.errcode, 1);
        assert.match(others.message, /image file:mine.img is not exist/);
        // In use by a VM: the native refusal, and the image stays.
        setting.users.set(key, ["vm-inuse1"]);
        const inUse = await remove(alice, "mine.img");
        assert.notEqual(inUse.errcode, 0);
        assert.match(inUse.message, /in use by VM vm-inuse1/);
        setting.users.delete(key);
        // Being uploaded: the original's refusal.
        const upload = await setting.call("image_server.upload", {
          actor: alice.address,
          owner: alice.address,
          server: "lan",
          source: { kind: "image", name: "mine.img" },
        });
        const uploading = await remove(alice, "mine.img");
        assert.equal(uploading.errcode, 1);
        assert.match(uploading.message, /in downloading or uploading/);
        await setting.call("image_server.stop", {
          actor: alice.address,
          owner: alice.address,
          transfer_id: upload.transfer_id,
        });
        assert.equal(setting.store.getFor(alice.address, "mine.img")?.state, "ready");

        assert.deepEqual(await remove(alice, "mine.img"), { errcode: 0, message: "ok" });
        assert.equal(setting.store.getFor(alice.address, "mine.img"), undefined);
        await assert.rejects(Deno.stat(`${setting.imageDir}/${key}`), Deno.errors.NotFound);
      } finally {
        await node.close();
      }
    });
  } finally {
    await relay.stop();
    await nginx.stop();
  }
});

Deno.test("native: a download's operation outlasts a restart of the node service and ends saying interrupted", async () => {
  const { alice } = await devWallets();
  const nginx = await startNginx({ rateBytes: 256 * 1024 });
  const dir = await scratchDir("http-transfer-restart");
  const node = await gpuNode({ renters: [alice.address] });
  const servers = [`lan=${nginx.url}`];
  let service: Awaited<ReturnType<typeof openImageServers>> | undefined;
  try {
    service = await openImageServers(dir, servers);
    // While the node service is away, calls fail as the supervisor fails them.
    const call = (async (method: Method, params: never) => {
      if (!service) throw new RpcError("unavailable", "node_service is restarting");
      return await imageServerCall(service.setting, node.call)(method as never, params);
    }) as unknown as AppDeps["call"];
    const app = createApp({
      call,
      log: silentLogger,
      node: { nodeId: node.nodeId, role: "gpu", forwardTimeoutMs: 5_000 },
    });
    await publish(nginx, "big.img", 8 * MIB);
    const started = await appRequest(app, "POST", "/api/v1/image_servers/lan/download", {
      signer: alice,
    }, { peer_nodes_list: [node.nodeId], remote_name: "big.img" });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const { operation_id, transfer_id } = started.body.data;
    await waitFor("bytes arriving", async () => {
      const now = await call("image_server.transfer", { transfer_id, owner: alice.address });
      return now.done_bytes > 0 ? true : undefined;
    });
    const stopping = service!;
    service = undefined;
    await stopping.close();
    // Away for a few of the operation's polls, then back on the same database.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    service = await openImageServers(dir, servers);
    const stream = await app.request(`/api/v1/operations/${operation_id}/events`);
    const last = (await readEvents(stream)).at(-1)!;
    assert.equal(last[0], "failed", JSON.stringify(last[1]));
    assert.match(JSON.stringify(last[1]), new RegExp(INTERRUPTED_ERROR));
    const listed = await appRequest(
      app,
      "GET",
      `/api/v1/image_transfers?node_id=${node.nodeId}`,
      { signer: alice },
    );
    assert.equal(listed.status, 200, JSON.stringify(listed.body));
    assert.deepEqual(
      listed.body.data.transfers.map((t: { transfer_id: string; state: string }) => [
        t.transfer_id,
        t.state,
      ]),
      [[transfer_id, "interrupted"]],
    );
  } finally {
    await service?.close();
    await node.close();
    await nginx.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
