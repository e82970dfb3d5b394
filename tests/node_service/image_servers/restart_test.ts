/**
 * Image transfers across a restart of the node service: the records are in node.db, so a
 * restart loses none. A download under way when the service dies (a real process, killed) or
 * stops (closed as the node does) reads `interrupted` afterwards, its partial file gone and no
 * image made; a finished one reads as before. Real nginx with WebDAV, real SQLite, real files.
 */
import assert from "node:assert/strict";
import { INTERRUPTED_ERROR } from "../../../node_service/image_servers/mod.ts";
import { DENO_BIN, scratchDir, waitFor } from "../../helpers.ts";
import { entries, MIB, openImageServers, publish } from "./image_server_fixture.ts";
import { startNginx } from "./nginx_fixture.ts";

const CHILD = new URL("./transfer_child.ts", import.meta.url).pathname;

/** Runs the child until its download moves, then kills it; returns the record it printed. */
async function killedMidDownload(dir: string, server: string, file: string) {
  const child = new Deno.Command(DENO_BIN, {
    args: ["run", "--allow-all", CHILD, dir, server, file],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  try {
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the child ended before its download moved: ${text}`);
      text += value;
    }
  } finally {
    child.kill("SIGKILL");
    await child.status;
    await reader.cancel().catch(() => {});
  }
  return JSON.parse(text.slice(0, text.indexOf("\n"))) as { transfer_id: string; state: string };
}

Deno.test("a download under way when the node service dies reads interrupted after the restart", async () => {
  const nginx = await startNginx({ rateBytes: 256 * 1024 });
  const dir = await scratchDir("image-transfer-restart");
  try {
    const server = `lan=${nginx.url}`;
    await publish(nginx, "small.img", 64 * 1024);
    await publish(nginx, "big.img", 8 * MIB);
    // A finished download first: its record must come back unchanged.
    const first = await openImageServers(dir, [server]);
    const small = await first.setting.call("image_server.download", {
      actor: "operator",
      server: "lan",
      remote_name: "small.img",
    });
    const smallDone = await waitFor("the small download to end", async () => {
      const now = await first.setting.call("image_server.transfer", {
        transfer_id: small.transfer_id,
      });
      return now.state === "running" ? undefined : now;
    });
    assert.equal(smallDone.state, "done", smallDone.error ?? "");
    await first.close();

    const moving = await killedMidDownload(dir, server, "big.img");
    assert.equal(moving.state, "running");
    // The crash left the partial file behind, and the record says running.
    assert.deepEqual(await entries(`${dir}/images/.transfers`), [`${moving.transfer_id}.part`]);

    const again = await openImageServers(dir, [server]);
    try {
      const after = await again.setting.call("image_server.transfer", {
        transfer_id: moving.transfer_id,
      });
      assert.equal(after.state, "interrupted");
      assert.equal(after.phase, "finished");
      assert.equal(after.error, INTERRUPTED_ERROR);
      assert.deepEqual(await entries(`${dir}/images/.transfers`), []);
      assert.equal(again.setting.store.get("big.img"), undefined);
      const { transfers } = await again.setting.call("image_server.transfers", {});
      assert.deepEqual(
        transfers.map((transfer) => [transfer.transfer_id, transfer.state]),
        [[moving.transfer_id, "interrupted"], [small.transfer_id, smallDone.state]],
      );
      assert.deepEqual(transfers[1], smallDone);
      // Nothing runs any more: stopping it is refused, and the same download may start again.
      await assert.rejects(
        again.setting.call("image_server.stop", {
          actor: "operator",
          transfer_id: moving.transfer_id,
        }),
        /interrupted, not running/,
      );
      const retry = await again.setting.call("image_server.download", {
        actor: "operator",
        server: "lan",
        remote_name: "big.img",
      });
      assert.equal(retry.state, "running");
    } finally {
      await again.close();
    }
  } finally {
    await nginx.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a download cut off by a stop of the node service reads interrupted after the restart", async () => {
  const nginx = await startNginx({ rateBytes: 256 * 1024 });
  const dir = await scratchDir("image-transfer-stop");
  try {
    const server = `lan=${nginx.url}`;
    await publish(nginx, "big.img", 8 * MIB);
    const first = await openImageServers(dir, [server]);
    const transfer = await first.setting.call("image_server.download", {
      actor: "operator",
      server: "lan",
      remote_name: "big.img",
    });
    await first.close();
    const again = await openImageServers(dir, [server]);
    try {
      const after = await again.setting.call("image_server.transfer", {
        transfer_id: transfer.transfer_id,
      });
      assert.equal(after.state, "interrupted");
      assert.equal(after.error, INTERRUPTED_ERROR);
      assert.deepEqual(await entries(`${dir}/images/.transfers`), []);
      assert.equal(again.setting.store.get("big.img"), undefined);
    } finally {
      await again.close();
    }
  } finally {
    await nginx.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
