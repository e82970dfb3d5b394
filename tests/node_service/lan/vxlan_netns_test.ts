/**
 * The VXLAN path between two hosts of one renter, with network namespaces standing in for the
 * hosts: each has the LAN's bridge, the two are linked by a veth pair (the hosts' own network),
 * and the node's own code (SystemLanHost, its `ip` and `bridge` commands run inside each
 * namespace) puts the VXLAN device on each bridge with the other as peer. Frames cross: an
 * address on one bridge answers pings from the other. With no peer, or another VNI, they do not.
 * Namespaces are removed even when a step fails, and by scripts/system/test_leftovers.sh (dbct-).
 */
import assert from "node:assert/strict";
import { type LanToolRunner, SystemLanHost, systemRunner } from "../../../node_service/lan/mod.ts";
import { run } from "../vm/libvirt_fixture.ts";

const HOST_A = { ns: `dbct-lana-${crypto.randomUUID().slice(0, 6)}`, underlay: "192.168.251.1" };
const HOST_B = { ns: `dbct-lanb-${crypto.randomUUID().slice(0, 6)}`, underlay: "192.168.251.2" };
const LAN = { a: "10.213.9.1", b: "10.213.9.2", prefix: 24 };
const BRIDGE = "dbtbtestlan1";
const VXLAN = "dbtxtestlan1";
const VNI = 4711;

async function must(program: string, ...args: string[]): Promise<string> {
  const result = await run(program, args);
  if (result.code !== 0) {
    throw new Error(
      `${program} ${args.join(" ")}: ${result.stderr.trim() || result.stdout.trim()}`,
    );
  }
  return result.stdout;
}

/** The node's runner, with `-n <namespace>` put in front of every `ip` and `bridge` command. */
function inNamespace(ns: string): LanToolRunner {
  return (program, args) =>
    program === "virsh" ? systemRunner(program, args) : systemRunner(program, ["-n", ns, ...args]);
}

/**
 * Whether `to` answers pings from inside namespace `from` (two, a second each). busybox's ping,
 * which the test guest's image needs anyway: Debian's minimal hosts have no iputils.
 */
async function pings(from: string, to: string): Promise<boolean> {
  const result = await run("ip", [
    "netns",
    "exec",
    from,
    "busybox",
    "ping",
    "-c",
    "2",
    "-W",
    "1",
    to,
  ]);
  // Anything but "no answer" (1) is the test's own failure, never a "cannot reach".
  if (result.code !== 0 && result.code !== 1) {
    throw new Error(`ping ${to} in ${from} failed to run: ${result.stderr.trim()}`);
  }
  return result.code === 0;
}

async function fdbPeers(ns: string): Promise<string[]> {
  const entries = JSON.parse(await must("bridge", "-n", ns, "-j", "fdb", "show", "dev", VXLAN)) as {
    mac: string;
    dst?: string;
  }[];
  return entries.filter((entry) => entry.mac === "00:00:00:00:00:00" && entry.dst)
    .map((entry) => entry.dst!).sort();
}

Deno.test("VXLAN carries a LAN between two hosts (network namespaces), and only to named peers", async (t) => {
  try {
    // Two "hosts" on one network, each with the LAN's bridge (libvirt's part on a real host).
    for (const host of [HOST_A, HOST_B]) await must("ip", "netns", "add", host.ns);
    await must(
      "ip",
      "link",
      "add",
      "dbct-veth-a",
      "netns",
      HOST_A.ns,
      "type",
      "veth",
      "peer",
      "name",
      "dbct-veth-b",
      "netns",
      HOST_B.ns,
    );
    for (
      const [host, veth, address] of [[HOST_A, "dbct-veth-a", LAN.a], [
        HOST_B,
        "dbct-veth-b",
        LAN.b,
      ]] as const
    ) {
      await must("ip", "-n", host.ns, "addr", "add", `${host.underlay}/24`, "dev", veth);
      await must("ip", "-n", host.ns, "link", "set", veth, "up");
      await must("ip", "-n", host.ns, "link", "set", "lo", "up");
      await must("ip", "-n", host.ns, "link", "add", BRIDGE, "type", "bridge");
      await must("ip", "-n", host.ns, "addr", "add", `${address}/${LAN.prefix}`, "dev", BRIDGE);
      await must("ip", "-n", host.ns, "link", "set", BRIDGE, "up");
    }
    const hostA = new SystemLanHost({ libvirtUri: "qemu:///system", run: inNamespace(HOST_A.ns) });
    const hostB = new SystemLanHost({ libvirtUri: "qemu:///system", run: inNamespace(HOST_B.ns) });

    await t.step(
      "without VXLAN the two bridges are apart (the hosts themselves are not)",
      async () => {
        assert.equal(await pings(HOST_A.ns, HOST_B.underlay), true);
        assert.equal(await pings(HOST_A.ns, LAN.b), false);
      },
    );

    await t.step("each host's VXLAN device names the other as peer: frames cross", async () => {
      await hostA.ensureVxlan({
        device: VXLAN,
        bridge: BRIDGE,
        vni: VNI,
        peers: [HOST_B.underlay],
      });
      await hostB.ensureVxlan({
        device: VXLAN,
        bridge: BRIDGE,
        vni: VNI,
        peers: [HOST_A.underlay],
      });
      assert.equal(await pings(HOST_A.ns, LAN.b), true);
      assert.equal(await pings(HOST_B.ns, LAN.a), true);
      const details = await must("ip", "-n", HOST_A.ns, "-j", "-d", "link", "show", "dev", VXLAN);
      const [link] = JSON.parse(details) as {
        mtu: number;
        master: string;
        linkinfo: { info_data: { id: number; port: number; learning: boolean } };
      }[];
      assert.equal(link!.master, BRIDGE);
      assert.equal(link!.mtu, 1450);
      assert.equal(link!.linkinfo.info_data.id, VNI);
      assert.equal(link!.linkinfo.info_data.port, 4789);
      assert.equal(link!.linkinfo.info_data.learning, false);
    });

    await t.step("ensuring again changes nothing; a new peer list replaces the old", async () => {
      await hostA.ensureVxlan({
        device: VXLAN,
        bridge: BRIDGE,
        vni: VNI,
        peers: [HOST_B.underlay],
      });
      assert.deepEqual(await fdbPeers(HOST_A.ns), [HOST_B.underlay]);
      await hostA.ensureVxlan({
        device: VXLAN,
        bridge: BRIDGE,
        vni: VNI,
        peers: ["192.168.251.9", HOST_B.underlay],
      });
      assert.deepEqual(await fdbPeers(HOST_A.ns), [HOST_B.underlay, "192.168.251.9"].sort());
      await hostA.ensureVxlan({ device: VXLAN, bridge: BRIDGE, vni: VNI, peers: [] });
      assert.deepEqual(await fdbPeers(HOST_A.ns), []);
      // A has no peer left: its frames go nowhere, so B's answers never come back to it.
      assert.equal(await pings(HOST_A.ns, LAN.b), false);
      await hostA.ensureVxlan({
        device: VXLAN,
        bridge: BRIDGE,
        vni: VNI,
        peers: [HOST_B.underlay],
      });
      assert.equal(await pings(HOST_A.ns, LAN.b), true);
    });

    await t.step("another VNI (another renter's LAN) does not cross", async () => {
      await hostB.removeVxlan(VXLAN);
      await hostB.ensureVxlan({
        device: VXLAN,
        bridge: BRIDGE,
        vni: VNI + 1,
        peers: [HOST_A.underlay],
      });
      assert.equal(await pings(HOST_A.ns, LAN.b), false);
    });

    await t.step(
      "removing the device leaves the bridge, and removing twice is no error",
      async () => {
        await hostA.removeVxlan(VXLAN);
        await hostA.removeVxlan(VXLAN);
        const shown = await run("ip", ["-n", HOST_A.ns, "link", "show", "dev", VXLAN]);
        assert.notEqual(shown.code, 0);
        await must("ip", "-n", HOST_A.ns, "link", "show", "dev", BRIDGE);
      },
    );
  } finally {
    // Deleting a namespace deletes every device in it.
    for (const host of [HOST_A, HOST_B]) await run("ip", ["netns", "del", host.ns]);
  }
});
