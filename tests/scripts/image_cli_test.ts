/**
 * The image-server commands of the renter CLI as renters run them
 * (`deno task cli image ...` in a real subprocess, //Alice's wallet from the
 * environment) against a real HTTP server running the node's app, behind it
 * the node service's real image-server handlers and image store and a real
 * nginx with WebDAV: the servers and their files, a download and an upload
 * each followed with progress bars to the end, a checksum mismatch failing
 * with exit 1, the transfers listed; and the progress bar itself.
 */
import assert from "node:assert/strict";
import { createApp } from "../../http/mod.ts";
import { silentLogger } from "../../mod/mod.ts";
import { humanBytes, progressBar } from "../../scripts/cli/image_server_commands.ts";
import { gpuNode } from "../http/compat_fixture.ts";
import {
  MIB,
  publish,
  withImageServers,
} from "../node_service/image_servers/image_server_fixture.ts";
import { startNginx } from "../node_service/image_servers/nginx_fixture.ts";
import { devWallets } from "../wallets.ts";
import { checkedCall } from "../http/checked_call.ts";
import { aliceCli } from "./cli_fixture.ts";

Deno.test("the progress bar shows the share, the bytes and the phase", () => {
  assert.equal(humanBytes(512), "512 B");
  assert.equal(humanBytes(3 * MIB / 2), "1.5 MiB");
  assert.equal(
    progressBar({ phase: "transferring", done_bytes: MIB, total_bytes: 4 * MIB }, 8),
    "[##......]  25%  1.0 MiB / 4.0 MiB  transferring",
  );
  assert.equal(
    progressBar({ phase: "finished", done_bytes: 4 * MIB, total_bytes: 4 * MIB }, 8),
    "[########] 100%  4.0 MiB / 4.0 MiB  finished",
  );
  assert.equal(
    progressBar({ phase: "exporting", done_bytes: 0, total_bytes: null }, 4),
    "[????]  0 B  exporting",
  );
});

Deno.test("cli: image-server list and files, image download and upload with progress bars, a mismatch fails", async () => {
  const { alice } = await devWallets();
  const nginx = await startNginx({ rateBytes: 2 * MIB });
  try {
    await withImageServers([`lan=${nginx.url}`], async (setting) => {
      const node = await gpuNode({ renters: [alice.address] });
      const app = createApp({
        call: checkedCall(setting.started.handlers, node.call),
        log: silentLogger,
        node: { nodeId: node.nodeId, role: "gpu", forwardTimeoutMs: 5_000 },
      });
      const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
      const api = `http://127.0.0.1:${server.addr.port}`;
      try {
        const sha256 = await publish(nginx, "ubuntu.img", 3 * MIB);
        await publish(nginx, "tampered.img", 100_000, "0".repeat(64));

        const servers = await aliceCli(["image-server", "list", "--node", node.nodeId], api);
        assert.equal(servers.code, 0, servers.stderr);
        assert.equal(servers.stdout, `lan  ${nginx.url}\n`);
        const files = await aliceCli(["image-server", "files", "lan", "--node", node.nodeId], api);
        assert.equal(files.code, 0, files.stderr);
        assert.match(
          files.stdout,
          /^tampered\.img {2}97\.7 KiB {2}sha256\nubuntu\.img {2}3\.0 MiB {2}sha256\n$/,
        );

        const download = await aliceCli(
          ["image", "download", "lan", "ubuntu.img", "--node", node.nodeId],
          api,
        );
        assert.equal(download.code, 0, download.stderr + download.stdout);
        const bars = download.stdout.split("\n").filter((line) => line.startsWith("["));
        assert.ok(bars.length >= 2, download.stdout);
        assert.match(bars.at(-1)!, /\] 100% {2}3\.0 MiB \/ 3\.0 MiB {2}finished$/);
        assert.equal(setting.store.getFor(alice.address, "ubuntu.img")?.sha256, sha256);

        const upload = await aliceCli([
          "image",
          "upload",
          "lan",
          "--node",
          node.nodeId,
          "--image",
          "ubuntu.img",
          "--remote-name",
          "copy.img",
        ], api);
        assert.equal(upload.code, 0, upload.stderr + upload.stdout);
        assert.match(upload.stdout, /100% {2}3\.0 MiB \/ 3\.0 MiB {2}finished/);
        assert.equal((await Deno.stat(`${nginx.root}/copy.img`)).size, 3 * MIB);

        const mismatch = await aliceCli(
          ["image", "download", "lan", "tampered.img", "--node", node.nodeId],
          api,
        );
        assert.equal(mismatch.code, 1, mismatch.stdout);
        assert.match(mismatch.stdout, /failed: .*checksum mismatch/);

        const usage = await aliceCli(["image", "upload", "lan", "--node", node.nodeId], api);
        assert.equal(usage.code, 2);
        assert.match(usage.stderr, /name either --image or --task/);

        const transfers = await aliceCli(["image", "transfers", "--node", node.nodeId], api);
        assert.equal(transfers.code, 0, transfers.stderr);
        const states = transfers.stdout.trim().split("\n").map((line) =>
          line.split("  ").slice(1, 3).join(" ")
        );
        assert.deepEqual(states, [
          "download lan/tampered.img failed",
          "upload lan/copy.img done",
          "download lan/ubuntu.img done",
        ]);
      } finally {
        await server.shutdown();
        await node.close();
      }
    });
  } finally {
    await nginx.stop();
  }
});
