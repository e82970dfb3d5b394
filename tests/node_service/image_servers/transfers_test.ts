/**
 * Image-server transfers against a real nginx with WebDAV on loopback, each
 * request in the real request process under the real outbound policy, into
 * a real image store (SQLite, files, qemu-img): listing, a download with
 * progress checked against the server's sidecar, a stop mid-way that leaves
 * nothing, a broken connection resumed with HTTP Range, a checksum mismatch
 * refused, bad names and busy images refused at once, the upload of a VM's
 * snapshot (qemu-img convert) with its sidecar, and a stopped upload that
 * leaves nothing on the server.
 */
import assert from "node:assert/strict";
import { RpcError } from "../../../mod/mod.ts";
import { renterImageKey } from "../../../node_service/vm/mod.ts";
import { waitFor } from "../../helpers.ts";
import { run, sha256File } from "../vm/libvirt_fixture.ts";
import {
  entries,
  MIB,
  publish,
  randomImage,
  type Setting,
  withImageServers,
} from "./image_server_fixture.ts";
import { startNginx, startRelay } from "./nginx_fixture.ts";

const RENTER = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";

async function rejectsWith(promise: Promise<unknown>, code: string, text: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof RpcError, String(error));
    assert.equal(error.code, code, error.message);
    assert.match(error.message, text);
    return true;
  });
}

async function finished(setting: Setting, id: string, owner?: string) {
  return await waitFor("the transfer to end", async () => {
    const transfer = await setting.call("image_server.transfer", { transfer_id: id, owner });
    return transfer.state === "running" ? undefined : transfer;
  }, 60_000);
}

Deno.test("an image server's files are listed from its WebDAV PROPFIND, with their sidecars", async () => {
  const nginx = await startNginx();
  try {
    await withImageServers([`lan=${nginx.url}`], async (setting) => {
      await publish(nginx, "ubuntu.img", 100_000);
      await randomImage(`${nginx.root}/bare.img`, 10_000);
      assert.deepEqual(await setting.call("image_server.list", {}), {
        servers: [{ id: "lan", url: nginx.url }],
      });
      const { files } = await setting.call("image_server.files", { server: "lan" });
      assert.deepEqual(
        files.map((file) => [file.name, file.size_bytes, file.has_sha256]),
        [["bare.img", 10_000, false], ["ubuntu.img", 100_000, true]],
      );
      await rejectsWith(
        setting.call("image_server.files", { server: "elsewhere" }),
        "not_found",
        /image_server not exist: elsewhere/,
      );
    });
  } finally {
    await nginx.stop();
  }
});

Deno.test("a download shows its progress, is checked against the sidecar and becomes the renter's image", async () => {
  // Slow answers, so the download is seen half-way.
  const nginx = await startNginx({ rateBytes: 1 * MIB });
  try {
    await withImageServers([`lan=${nginx.url}`], async (setting) => {
      const sha256 = await publish(nginx, "ubuntu.img", 3 * MIB);
      const transfer = await setting.call("image_server.download", {
        actor: RENTER,
        owner: RENTER,
        server: "lan",
        remote_name: "ubuntu.img",
        max_per_owner: 3,
      });
      assert.equal(transfer.state, "running");
      assert.equal(transfer.total_bytes, 3 * MIB);
      const halfway = await waitFor("progress half-way", async () => {
        const now = await setting.call("image_server.transfer", {
          transfer_id: transfer.transfer_id,
          owner: RENTER,
        });
        return now.done_bytes > 0 && now.done_bytes < 3 * MIB ? now : undefined;
      });
      assert.equal(halfway.state, "running");
      const done = await finished(setting, transfer.transfer_id, RENTER);
      assert.equal(done.state, "done", done.error ?? "");
      assert.equal(done.done_bytes, 3 * MIB);
      assert.equal(done.sha256, sha256);
      // The renter's own image, under its own key; nobody else sees the transfer.
      const image = setting.store.getFor(RENTER, "ubuntu.img");
      assert.equal(image?.state, "ready");
      assert.equal(image?.sha256, sha256);
      assert.equal(
        await sha256File(`${setting.imageDir}/${renterImageKey(RENTER, "ubuntu.img")}`),
        sha256,
      );
      assert.deepEqual(await entries(`${setting.imageDir}/.transfers`), []);
      await rejectsWith(
        setting.call("image_server.transfer", {
          transfer_id: transfer.transfer_id,
          owner: "5Other",
        }),
        "not_found",
        /no transfer/,
      );
      // The same name again is refused at once: the image is there.
      await rejectsWith(
        setting.call("image_server.download", {
          actor: RENTER,
          owner: RENTER,
          server: "lan",
          remote_name: "ubuntu.img",
        }),
        "conflict",
        /already on this node/,
      );
    });
  } finally {
    await nginx.stop();
  }
});

Deno.test("a download stopped mid-way leaves no partial file and no image", async () => {
  const nginx = await startNginx({ rateBytes: 256 * 1024 });
  try {
    await withImageServers([`lan=${nginx.url}`], async (setting) => {
      await publish(nginx, "big.img", 8 * MIB);
      const transfer = await setting.call("image_server.download", {
        actor: "operator",
        server: "lan",
        remote_name: "big.img",
      });
      await waitFor("bytes arriving", async () => {
        const now = await setting.call("image_server.transfer", {
          transfer_id: transfer.transfer_id,
        });
        return now.done_bytes > 0 ? now : undefined;
      });
      assert.deepEqual(await entries(`${setting.imageDir}/.transfers`), [
        `${transfer.transfer_id}.part`,
      ]);
      const stopped = await setting.call("image_server.stop", {
        actor: "operator",
        transfer_id: transfer.transfer_id,
      });
      assert.equal(stopped.state, "stopped");
      assert.ok(stopped.done_bytes < 8 * MIB);
      assert.deepEqual(await entries(`${setting.imageDir}/.transfers`), []);
      assert.equal(setting.store.get("big.img"), undefined);
      assert.deepEqual(
        (await entries(setting.imageDir)).filter((name) => name !== ".transfers"),
        [],
      );
      await rejectsWith(
        setting.call("image_server.stop", { actor: "operator", transfer_id: transfer.transfer_id }),
        "conflict",
        /stopped, not running/,
      );
    });
  } finally {
    await nginx.stop();
  }
});

Deno.test("a download whose connection breaks goes on where it stopped (HTTP Range)", async () => {
  const nginx = await startNginx();
  const relay = startRelay(nginx.port, { cutAfter: 1 * MIB });
  try {
    await withImageServers([`lan=${relay.url}`], async (setting) => {
      const sha256 = await publish(nginx, "resume.img", 3 * MIB);
      const transfer = await setting.call("image_server.download", {
        actor: "operator",
        server: "lan",
        remote_name: "resume.img",
      });
      const done = await finished(setting, transfer.transfer_id);
      assert.equal(done.state, "done", done.error ?? "");
      assert.equal(relay.cuts(), 1);
      assert.equal(done.resumed, 1);
      assert.equal(done.sha256, sha256);
      assert.equal(setting.store.get("resume.img")?.state, "ready");
      // The second GET asked for the rest only, and nginx answered it as a range.
      const gets = (await nginx.accessLog()).filter((line) => line.startsWith("GET /resume.img "));
      assert.equal(gets.length, 2, gets.join("\n"));
      assert.match(gets[0]!, /"-" 200 /);
      const range = /"bytes=(\d+)-" 206 /.exec(gets[1]!);
      assert.ok(range, gets[1]);
      assert.ok(Number(range[1]) > 0 && Number(range[1]) <= 1 * MIB);
    });
  } finally {
    await relay.stop();
    await nginx.stop();
  }
});

Deno.test("a checksum mismatch is refused, and a download without any checksum is not started", async () => {
  const nginx = await startNginx();
  try {
    await withImageServers([`lan=${nginx.url}`], async (setting) => {
      await publish(nginx, "tampered.img", 200_000, "0".repeat(64));
      const transfer = await setting.call("image_server.download", {
        actor: "operator",
        server: "lan",
        remote_name: "tampered.img",
      });
      const failed = await finished(setting, transfer.transfer_id);
      assert.equal(failed.state, "failed");
      assert.match(
        failed.error ?? "",
        /checksum mismatch: expected sha256 0{64}, got [0-9a-f]{64}/,
      );
      assert.equal(setting.store.get("tampered.img"), undefined);
      assert.deepEqual(await entries(`${setting.imageDir}/.transfers`), []);
      // A sha256 given that differs from the sidecar, and a file with neither: refused at once.
      await rejectsWith(
        setting.call("image_server.download", {
          actor: "operator",
          server: "lan",
          remote_name: "tampered.img",
          sha256: "1".repeat(64),
        }),
        "invalid_params",
        /differs from the server's tampered.img.sha256/,
      );
      await randomImage(`${nginx.root}/bare.img`, 1000);
      await rejectsWith(
        setting.call("image_server.download", {
          actor: "operator",
          server: "lan",
          remote_name: "bare.img",
        }),
        "invalid_params",
        /no checksum for bare.img/,
      );
      const events = setting.events.list({ action: "image_server.download", limit: 10 });
      assert.equal(events[0]?.result, "error");
    });
  } finally {
    await nginx.stop();
  }
});

Deno.test("bad names, unknown servers and images in use are refused before anything moves", async () => {
  const nginx = await startNginx();
  try {
    await withImageServers([`lan=${nginx.url}`], async (setting) => {
      for (const name of ["../etc/passwd", "a/b.img", "..", ".hidden"]) {
        await rejectsWith(
          setting.call("image_server.download", {
            actor: "operator",
            server: "lan",
            remote_name: name,
          }),
          "invalid_params",
          /not a plain file name/,
        );
      }
      await rejectsWith(
        setting.call("image_server.download", {
          actor: "operator",
          server: "nope",
          remote_name: "a.img",
        }),
        "not_found",
        /image_server not exist: nope \(this node has lan\)/,
      );
      await rejectsWith(
        setting.call("image_server.download", {
          actor: "operator",
          server: "lan",
          remote_name: "absent.img",
        }),
        "not_found",
        /image:absent.img not exist on image server lan/,
      );
      // A VM that runs: its disk is in use, so it is not uploaded.
      setting.vms.set("vm-running", { id: "vm-running", owner: RENTER, state: "running" });
      await rejectsWith(
        setting.call("image_server.upload", {
          actor: RENTER,
          owner: RENTER,
          server: "lan",
          source: { kind: "vm", task_id: "vm-running" },
        }),
        "conflict",
        /VM vm-running is running: its disk is in use/,
      );
      // Another renter's VM does not exist for this one.
      await rejectsWith(
        setting.call("image_server.upload", {
          actor: "5Other",
          owner: "5Other",
          server: "lan",
          source: { kind: "vm", task_id: "vm-running" },
        }),
        "not_found",
        /task not exist/,
      );
      assert.deepEqual(await entries(nginx.root), []);
      assert.deepEqual(setting.started.transfers.list(), []);
    });
  } finally {
    await nginx.stop();
  }
});

Deno.test("a stopped VM's snapshot is exported and uploaded with its sidecar", async () => {
  const nginx = await startNginx();
  try {
    await withImageServers([`lan=${nginx.url}`], async (setting) => {
      const id = "vm-snap";
      await Deno.mkdir(`${setting.vmDir}/${id}`);
      const disk = `${setting.vmDir}/${id}/disk.qcow2`;
      assert.equal((await run("qemu-img", ["create", "-q", "-f", "qcow2", disk, "32M"])).code, 0);
      assert.equal((await run("qemu-img", ["snapshot", "-c", "before", disk])).code, 0);
      setting.vms.set(id, { id, owner: RENTER, state: "stopped" });
      setting.snapshots.set(id, ["before"]);
      const transfer = await setting.call("image_server.upload", {
        actor: RENTER,
        owner: RENTER,
        server: "lan",
        source: { kind: "vm", task_id: id, snapshot: "before" },
      });
      assert.equal(transfer.remote_name, "vm-snap-before.qcow2");
      const done = await finished(setting, transfer.transfer_id, RENTER);
      assert.equal(done.state, "done", done.error ?? "");
      const uploaded = `${nginx.root}/vm-snap-before.qcow2`;
      const sha256 = await sha256File(uploaded);
      assert.equal(done.sha256, sha256);
      assert.equal(
        await Deno.readTextFile(`${uploaded}.sha256`),
        `${sha256}  vm-snap-before.qcow2\n`,
      );
      // A standalone qcow2: no backing file, the snapshot's size.
      const info = JSON.parse(
        (await run("qemu-img", ["info", "--output=json", uploaded])).stdout,
      );
      assert.equal(info.format, "qcow2");
      assert.equal(info["virtual-size"], 32 * MIB);
      assert.equal(info["backing-filename"], undefined);
      assert.deepEqual(await entries(`${setting.imageDir}/.transfers`), []);
      // The same name again is refused: it is on the server now.
      await rejectsWith(
        setting.call("image_server.upload", {
          actor: RENTER,
          owner: RENTER,
          server: "lan",
          source: { kind: "vm", task_id: id, snapshot: "before" },
        }),
        "conflict",
        /already exists on image server lan/,
      );
      await rejectsWith(
        setting.call("image_server.upload", {
          actor: RENTER,
          owner: RENTER,
          server: "lan",
          source: { kind: "vm", task_id: id, snapshot: "after" },
        }),
        "not_found",
        /has no snapshot after/,
      );
    });
  } finally {
    await nginx.stop();
  }
});

Deno.test("an upload stopped mid-way leaves nothing on the server", async () => {
  const nginx = await startNginx();
  // A slow uplink, so the upload is stopped half-way.
  const relay = startRelay(nginx.port, { upstreamBytesPerSecond: 1 * MIB });
  try {
    await withImageServers([`lan=${relay.url}`], async (setting) => {
      await randomImage(`${setting.dir}/source.img`, 8 * MIB);
      const add = setting.store.add("mine.img", {
        kind: "path",
        path: `${setting.dir}/source.img`,
      });
      assert.equal((await add.done).state, "ready");
      const transfer = await setting.call("image_server.upload", {
        actor: "operator",
        server: "lan",
        source: { kind: "image", name: "mine.img" },
      });
      await waitFor("bytes leaving", async () => {
        const now = await setting.call("image_server.transfer", {
          transfer_id: transfer.transfer_id,
        });
        return now.done_bytes > 0 ? now : undefined;
      });
      const stopped = await setting.call("image_server.stop", {
        actor: "operator",
        transfer_id: transfer.transfer_id,
      });
      assert.equal(stopped.state, "stopped");
      // nginx drops the body it was receiving; nothing of it is listed or left.
      await waitFor("nginx to drop the body", async () => {
        const { files } = await setting.call("image_server.files", { server: "lan" });
        return files.length === 0 && (await entries(nginx.root)).length === 0 ? true : undefined;
      });
      const events = setting.events.list({ action: "image_server.upload", limit: 10 });
      assert.equal(events[0]?.result, "error");
      assert.equal(events[0]?.detail.state, "stopped");
    });
  } finally {
    await relay.stop();
    await nginx.stop();
  }
});

Deno.test("a download the volume has no room for is refused before a byte is written", async () => {
  const nginx = await startNginx();
  try {
    await withImageServers([`lan=${nginx.url}`], async (setting) => {
      await publish(nginx, "ubuntu.img", 100_000);
      await rejectsWith(
        setting.call("image_server.download", {
          actor: "operator",
          server: "lan",
          remote_name: "ubuntu.img",
        }),
        "conflict",
        /not enough disk space for image ubuntu.img/,
      );
      assert.deepEqual(setting.started.transfers.list(), []);
      assert.deepEqual(await entries(`${setting.imageDir}/.transfers`), []);
    }, { DBC_VM_MIN_FREE_DISK_GIB: "1000000" });
  } finally {
    await nginx.stop();
  }
});

Deno.test("a download onto an image a VM uses is refused, naming the VM; the image stays", async () => {
  const nginx = await startNginx();
  try {
    await withImageServers([`lan=${nginx.url}`], async (setting) => {
      const sha256 = await publish(nginx, "base.img", 100_000);
      const first = await setting.call("image_server.download", {
        actor: "operator",
        server: "lan",
        remote_name: "base.img",
      });
      assert.equal((await finished(setting, first.transfer_id)).state, "done");
      setting.users.set("base.img", ["vm-uses-it"]);
      await publish(nginx, "base.img", 100_000);
      await rejectsWith(
        setting.call("image_server.download", {
          actor: "operator",
          server: "lan",
          remote_name: "base.img",
        }),
        "conflict",
        /image base.img is already on this node \(ready and in use by VM vm-uses-it\)/,
      );
      assert.equal(await sha256File(`${setting.imageDir}/base.img`), sha256);
      assert.equal(setting.started.transfers.list().length, 1);
    });
  } finally {
    await nginx.stop();
  }
});
