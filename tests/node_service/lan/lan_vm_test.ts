/**
 * Renters' LANs on real libvirt (emulated guests): renter A makes a LAN, two of its test guests
 * attached to it at create get DHCP offers on its range and ping each other from their consoles;
 * renter B's guest, on B's own LAN and claiming an address in A's range, reaches neither. Bad
 * requests are refused and change nothing; a LAN with VMs on it cannot be deleted; a restart puts
 * back a bridge someone removed. The service, its store and the VM service are the worker's own,
 * over a real SQLite file.
 *
 * Cleans up (domains and networks named with the test's prefix, bridges with `dbt`) even when a
 * step fails; scripts/system/test_leftovers.sh removes what an interrupted run left.
 */
import assert from "node:assert/strict";
import { LanCreateParamsSchema, RpcError, silentLogger } from "../../../mod/mod.ts";
import { LanService, SystemLanHost } from "../../../node_service/lan/mod.ts";
import { VM_FILES } from "../../../node_service/vm/constants.ts";
import { VmStore } from "../../../node_service/vm/mod.ts";
import { waitFor } from "../../helpers.ts";
import {
  LIBVIRT_URI,
  removeDomains,
  requireLibvirt,
  run,
  testGuest,
  testPrefix,
  virsh,
  vmScratchDir,
} from "../vm/libvirt_fixture.ts";
import { addGuestImages, guestRequest, openVmSetting } from "../vm/vm_fixture.ts";

const RENTER_A = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
const RENTER_B = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
const RANGE_A = "10.213.7.0/24";
const RANGE_B = "10.213.8.0/24";
/** Emulated boots on a shared 2-core machine: be generous. */
const BOOT_MS = 240_000;

/**
 * The guest's user-data script (busybox): finds the LAN NIC (the one not at the user-mode NIC's
 * fixed PCI slot 00:1b.0), asks the LAN's DHCP for an offer and prints it, takes the given static
 * addresses (so the test knows whom to ping), and pings each target up to `tries` times.
 */
function guestScript(addresses: string[], targets: string[], tries: number): string {
  return `#!/bin/sh
lan=""
for dev in /sys/class/net/*; do
  case "$(readlink "$dev/device" 2>/dev/null)" in ""|*00:1b.0) ;; *) lan="\${dev##*/}" ;; esac
done
echo "DBC-LAN-NIC dev=$lan mac=$(cat /sys/class/net/$lan/address) mtu=$(cat /sys/class/net/$lan/mtu)"
ip link set "$lan" up
printf '#!/bin/sh\\n[ "$1" = bound ] && echo "DBC-LAN-DHCP ip=$ip" >/dev/console\\nexit 0\\n' >/tmp/lease
chmod 0755 /tmp/lease
udhcpc -i "$lan" -f -q -n -t 20 -T 3 -s /tmp/lease >/dev/null 2>&1 || echo "DBC-LAN-DHCP none"
for address in ${addresses.join(" ")}; do ip addr add "$address" dev "$lan"; done
for target in ${targets.join(" ")}; do
  n=0; got=no
  while [ $n -lt ${tries} ]; do
    if ping -c 1 -W 1 "$target" >/dev/null 2>&1; then got=yes; break; fi
    n=$((n+1))
  done
  echo "DBC-LAN-PING $target $got"
done
`;
}

/** The console's LAN lines once the script is done. */
async function lanReport(consoleLog: string): Promise<string[] | undefined> {
  const text = await Deno.readTextFile(consoleLog).catch(() => "");
  // The guest's init prints this once the user-data script has ended.
  if (!text.includes("DBC-TEST-USER-SCRIPT exit=")) return undefined;
  return text.split("\n").map((line) => line.replace(/\r$/, "")).filter((line) =>
    line.startsWith("DBC-LAN-")
  );
}

async function networkNames(prefix: string): Promise<string[]> {
  const listed = await virsh("net-list", "--all", "--name");
  return listed.stdout.split("\n").map((line) => line.trim()).filter((name) =>
    name.startsWith(prefix)
  ).sort();
}

async function removeNetworks(prefix: string): Promise<void> {
  for (const name of await networkNames(prefix)) {
    await virsh("net-destroy", name);
    await virsh("net-undefine", name);
  }
}

async function linkExists(name: string): Promise<boolean> {
  return (await run("ip", ["link", "show", "dev", name])).code === 0;
}

async function refusedWith(work: Promise<unknown>, code: string, text: string): Promise<void> {
  await assert.rejects(work, (error: unknown) => {
    assert(error instanceof RpcError, String(error));
    assert.equal(error.code, code, error.message);
    assert(error.message.includes(text), error.message);
    return true;
  });
}

Deno.test("VMs on one renter's LAN reach each other; another renter's VM cannot", async (t) => {
  await requireLibvirt();
  const guest = await testGuest();
  const prefix = testPrefix();
  const dir = await vmScratchDir("lan-vms");
  let lans: LanService | undefined;
  const setting = openVmSetting({
    dir,
    prefix,
    lanAttachment: (owner, name) => lans!.attachment(owner, name),
  });
  const { service: vms, images, db, events } = setting;
  const records = new VmStore(db, Date.now);
  const openLans = () =>
    new LanService({
      db,
      events,
      host: new SystemLanHost({ libvirtUri: LIBVIRT_URI }),
      xmlDir: `${dir}/lans`,
      domainPrefix: prefix,
      devicePrefix: "dbt",
      members: (id) => records.membersOfLan(id),
      lastUse: (id) => records.lastUseOfLan(id),
      now: Date.now,
      log: silentLogger,
    });
  lans = openLans();
  const made: string[] = [];
  try {
    await addGuestImages(images, guest);
    const consoleOf = (id: string) => `${dir}/vms/${id}/${VM_FILES.console}`;

    const lanA = await lans.create({
      actor: RENTER_A,
      account: RENTER_A,
      name: "office1",
      cidr: RANGE_A,
    });
    const lanB = await lans.create({
      actor: RENTER_B,
      account: RENTER_B,
      name: "office1",
      cidr: RANGE_B,
    });

    await t.step(
      "a LAN is a libvirt network with its bridge, VXLAN device and DHCP range",
      async () => {
        assert.equal(lanA.ip_cidr, RANGE_A);
        assert.equal(lanA.gateway, "10.213.7.1");
        assert.deepEqual([lanA.dhcp_start, lanA.dhcp_end], ["10.213.7.2", "10.213.7.254"]);
        assert.notEqual(lanA.vxlan_vni, lanB.vxlan_vni);
        const networks = await networkNames(prefix);
        assert.equal(networks.length, 2);
        assert(networks.every((name) => name.startsWith(`${prefix}lan-`)), networks.join());
        assert(await linkExists(lanA.bridge_name));
        const vxlan = await run("ip", ["-j", "-d", "link", "show", "dev", lanA.vxlan_name]);
        const [link] = JSON.parse(vxlan.stdout) as {
          master: string;
          linkinfo: { info_data: { id: number } };
        }[];
        assert.equal(link!.master, lanA.bridge_name);
        assert.equal(link!.linkinfo.info_data.id, lanA.vxlan_vni);
        // Each renter sees its own LAN under the name both chose.
        assert.deepEqual((await lans!.list(RENTER_A)).map((lan) => lan.ip_cidr), [RANGE_A]);
        assert.deepEqual((await lans!.list(RENTER_B)).map((lan) => lan.ip_cidr), [RANGE_B]);
      },
    );

    await t.step("bad requests are refused and change nothing", async () => {
      const before = await networkNames(prefix);
      const create = (account: string, name: string, cidr: string, extra = {}) =>
        lans!.create({ actor: account, account, name, cidr, ...extra });
      await refusedWith(
        create(RENTER_A, "office1", "10.213.20.0/24"),
        "conflict",
        "already exists",
      );
      await refusedWith(
        create(RENTER_A, "office2", "10.213.7.128/25"),
        "invalid_params",
        "overlaps your network office1",
      );
      // Renter A's LAN is one of the host's networks now: B cannot take its range either.
      await refusedWith(
        create(RENTER_B, "office2", "10.213.7.128/25"),
        "invalid_params",
        "overlaps a network this host already uses",
      );
      await refusedWith(
        create(RENTER_A, "office2", "10.213.20.0/33"),
        "invalid_params",
        "invalid ip cidr",
      );
      await refusedWith(
        create(RENTER_A, "office2", "8.8.8.0/24"),
        "invalid_params",
        "private range",
      );
      await refusedWith(
        create(RENTER_A, "office2", "10.213.20.0/24", { peers: ["127.0.0.1"] }),
        "invalid_params",
        "not a unicast host address",
      );
      await refusedWith(
        create(RENTER_A, "office2", "10.213.20.0/24", { vni: lanB.vxlan_vni }),
        "conflict",
        "VNI",
      );
      for (const name of ["off/ce", "of", "office-1", "a".repeat(11), "../x"]) {
        const parsed = LanCreateParamsSchema.safeParse({
          actor: RENTER_A,
          account: RENTER_A,
          name,
          cidr: "10.213.20.0/24",
        });
        assert(!parsed.success, name);
      }
      await refusedWith(
        vms.create(guestRequest(guest, { actor: RENTER_B, network_name: "office9" })),
        "not_found",
        "network name office9 does not exist",
      );
      assert.deepEqual(await networkNames(prefix), before);
      assert.deepEqual((await lans!.list(RENTER_A)).map((lan) => lan.network_name), ["office1"]);
    });

    const [vm1, vm2] = await Promise.all([
      vms.create(guestRequest(guest, {
        actor: RENTER_A,
        network_name: "office1",
        guest_script: guestScript(["10.213.7.201/24"], ["10.213.7.202"], 120),
      })),
      vms.create(guestRequest(guest, {
        actor: RENTER_A,
        network_name: "office1",
        guest_script: guestScript(["10.213.7.202/24"], ["10.213.7.201"], 120),
      })),
    ]);
    made.push(vm1.id, vm2.id);

    await t.step(
      "two guests on the LAN get DHCP offers on its range and ping each other",
      async () => {
        assert.equal(vm1.lan?.network_name, "office1");
        for (const vm of [vm1, vm2]) {
          const report = await waitFor(
            `${vm.id}'s LAN report`,
            () => lanReport(consoleOf(vm.id)),
            BOOT_MS,
          );
          const nic = report.find((line) => line.startsWith("DBC-LAN-NIC "));
          assert(nic?.includes(`mac=${vm.lan!.mac_address}`), `${vm.id}: ${report.join(" | ")}`);
          assert(nic?.includes("mtu=1450"), nic);
          assert(
            report.some((line) => /^DBC-LAN-DHCP ip=10\.213\.7\.\d+$/.test(line)),
            report.join(" | "),
          );
          assert(
            report.some((line) => /^DBC-LAN-PING 10\.213\.7\.20[12] yes$/.test(line)),
            report.join(" | "),
          );
        }
        assert.deepEqual((await lans!.list(RENTER_A))[0]!.members, [vm1.id, vm2.id].sort());
      },
    );

    await t.step("another renter's guest, on its own LAN, reaches neither", async () => {
      const vm3 = await vms.create(guestRequest(guest, {
        actor: RENTER_B,
        network_name: "office1",
        // An address in A's range too: it is the layer below that keeps it out. B's own gateway
        // answering shows its network works.
        guest_script: guestScript(
          ["10.213.7.203/24", "10.213.8.203/24"],
          ["10.213.8.1", "10.213.7.201", "10.213.7.202"],
          5,
        ),
      }));
      made.push(vm3.id);
      const report = await waitFor(
        `${vm3.id}'s LAN report`,
        () => lanReport(consoleOf(vm3.id)),
        BOOT_MS,
      );
      assert(
        report.some((line) => /^DBC-LAN-DHCP ip=10\.213\.8\.\d+$/.test(line)),
        report.join(" | "),
      );
      assert(report.includes("DBC-LAN-PING 10.213.8.1 yes"), report.join(" | "));
      assert(report.includes("DBC-LAN-PING 10.213.7.201 no"), report.join(" | "));
      assert(report.includes("DBC-LAN-PING 10.213.7.202 no"), report.join(" | "));
    });

    await t.step("a LAN with VMs on it is not deleted; once they are gone it is", async () => {
      await refusedWith(
        lans!.delete({ actor: RENTER_A, account: RENTER_A, name: "office1" }),
        "conflict",
        "in use by",
      );
      assert(await linkExists(lanA.bridge_name));
      for (const id of made) await vms.delete((await vms.get(id)).owner, id);
      const deleted = await lans!.delete({ actor: RENTER_A, account: RENTER_A, name: "office1" });
      assert.equal(deleted.network_name, "office1");
      assert.equal(await linkExists(lanA.bridge_name), false);
      assert.equal(await linkExists(lanA.vxlan_name), false);
      assert.equal((await networkNames(prefix)).length, 1);
      assert.deepEqual(await lans!.list(RENTER_A), []);
    });

    await t.step("a restart puts back the bridge and VXLAN device someone removed", async () => {
      await run("ip", ["link", "del", "dev", lanB.vxlan_name]);
      await run("ip", ["link", "del", "dev", lanB.bridge_name]);
      assert.equal(await linkExists(lanB.bridge_name), false);
      lans = openLans();
      await lans.restore();
      assert(await linkExists(lanB.bridge_name));
      const vxlan = await run("ip", ["-j", "link", "show", "dev", lanB.vxlan_name]);
      assert.equal((JSON.parse(vxlan.stdout) as { master: string }[])[0]!.master, lanB.bridge_name);
      assert.deepEqual((await lans.list(RENTER_B)).map((lan) => lan.vxlan_vni), [lanB.vxlan_vni]);
    });
  } finally {
    await removeDomains(prefix);
    // libvirt removes a network's bridge, not the VXLAN device the node put on it.
    for (const account of [RENTER_A, RENTER_B]) {
      for (const lan of await lans!.list(account).catch(() => [])) {
        await run("ip", ["link", "del", "dev", lan.vxlan_name]);
      }
    }
    await removeNetworks(prefix);
    await setting.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
