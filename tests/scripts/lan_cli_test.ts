/**
 * The LAN commands of the renter CLI as renters run them (`deno task cli lan ...` in a real
 * subprocess, //Alice's wallet from the environment) against a real HTTP server running the
 * node's app, behind it the node service's real LAN handlers on the real host: a network made,
 * listed, given a peer, refused when its range overlaps, and deleted.
 */
import assert from "node:assert/strict";
import { createApp } from "../../http/mod.ts";
import { silentLogger } from "../../mod/mod.ts";
import { peerList } from "../../scripts/cli/lan_commands.ts";
import { gpuNode } from "../http/compat_fixture.ts";
import { lanNodeService } from "../node_service/lan/lan_fixture.ts";
import { devWallets } from "../wallets.ts";
import { aliceCli } from "./cli_fixture.ts";

Deno.test("--peers takes IPv4 addresses separated by commas", () => {
  assert.deepEqual(peerList(undefined), []);
  assert.deepEqual(peerList(""), []);
  assert.deepEqual(peerList("192.0.2.5, 198.51.100.7"), ["192.0.2.5", "198.51.100.7"]);
  assert.throws(() => peerList("host.example"), /IPv4 addresses/);
});

Deno.test("cli: lan create, list, peers, a refused overlap and delete", async () => {
  const { alice } = await devWallets();
  const node = await gpuNode({ renters: [alice.address] });
  const service = await lanNodeService([alice.address], node.call);
  const app = createApp({
    call: service.call,
    log: silentLogger,
    node: { nodeId: node.nodeId, role: "gpu", forwardTimeoutMs: 5_000 },
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  const api = `http://127.0.0.1:${server.addr.port}`;
  try {
    const at = ["--node", node.nodeId];
    const created = await aliceCli(["lan", "create", "office1", "10.213.40.0/24", ...at], api);
    assert.equal(created.code, 0, created.stderr);
    assert.match(
      created.stdout,
      /^office1 {2}10\.213\.40\.0\/24 {2}gateway 10\.213\.40\.1, DHCP 10\.213\.40\.2-10\.213\.40\.254 {2}vni \d+ {2}vtep \S+ {2}peers - {2}vms -\n$/,
    );

    const overlap = await aliceCli(["lan", "create", "office2", "10.213.40.128/25", ...at], api);
    assert.equal(overlap.code, 1, overlap.stdout);
    assert.match(overlap.stderr, /overlaps your network office1/);

    const peered = await aliceCli(["lan", "peers", "office1", "--peers", "192.0.2.88", ...at], api);
    assert.equal(peered.code, 0, peered.stderr);
    assert.match(peered.stdout, /peers 192\.0\.2\.88 /);

    const listed = await aliceCli(["lan", "list", "--json", ...at], api);
    assert.equal(listed.code, 0, listed.stderr);
    const { networks } = JSON.parse(listed.stdout);
    assert.deepEqual(networks.map((lan: { network_name: string }) => lan.network_name), [
      "office1",
    ]);
    assert.deepEqual(networks[0].peers, ["192.0.2.88"]);

    const deleted = await aliceCli(["lan", "delete", "office1", ...at], api);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.deepEqual(await service.networks(), []);
    const none = await aliceCli(["lan", "list", ...at], api);
    assert.equal(none.stdout, "(no private networks)\n");
  } finally {
    await server.shutdown();
    await service.close();
    await node.close();
  }
});
