/**
 * LAN ranges and the libvirt network XML, without a host: every refusal of a bad range or peer,
 * the addresses a range gives, overlap both ways, and XML that libvirt's own schema accepts.
 */
import assert from "node:assert/strict";
import {
  judgePeer,
  judgeRange,
  lanNames,
  type LanRecord,
  networkXml,
  overlaps,
  parseRange,
  rangeAddresses,
} from "../../../node_service/lan/mod.ts";
import { scratchDir } from "../../helpers.ts";
import { run } from "../vm/libvirt_fixture.ts";

function range(text: string) {
  const parsed = parseRange(text);
  if (!parsed) throw new Error(`not a range: ${text}`);
  return parsed;
}

Deno.test("a LAN range is private IPv4 CIDR, /16 to /29, stored as its network address", () => {
  const judged = judgeRange("10.213.7.9/24");
  if (!judged.ok) throw new Error(judged.reason);
  assert.deepEqual(judged.range, range("10.213.7.0/24"));
  for (
    const [text, why] of [
      ["10.213.7.0", "expected a.b.c.d/n"],
      ["10.213.7.0/33", "expected a.b.c.d/n"],
      ["10.213.256.0/24", "expected a.b.c.d/n"],
      ["10.0.0.0/24/1", "expected a.b.c.d/n"],
      ["fd00::/64", "expected a.b.c.d/n"],
      ["10.0.0.0/8", "prefix length must be 16 to 29"],
      ["10.0.0.0/30", "prefix length must be 16 to 29"],
      ["8.8.8.0/24", "private range"],
      ["172.32.0.0/24", "private range"],
      // Wider than a private range though it starts in one.
      ["172.16.0.0/11", "prefix length"],
    ]
  ) {
    const verdict = judgeRange(text!);
    if (verdict.ok) throw new Error(`${text} was taken`);
    assert(verdict.reason.includes(why!), `${text}: ${verdict.reason}`);
  }
});

Deno.test("a range gives the host the first address and DHCP the rest but the broadcast", () => {
  assert.deepEqual(rangeAddresses(range("10.213.7.0/24")), {
    gateway: "10.213.7.1",
    start: "10.213.7.2",
    end: "10.213.7.254",
  });
  assert.deepEqual(rangeAddresses(range("192.168.4.8/29")), {
    gateway: "192.168.4.9",
    start: "192.168.4.10",
    end: "192.168.4.14",
  });
});

Deno.test("ranges overlap when one holds the other, whichever is named first", () => {
  assert(overlaps(range("10.0.0.0/16"), range("10.0.5.0/24")));
  assert(overlaps(range("10.0.5.0/24"), range("10.0.0.0/16")));
  assert(overlaps(range("10.0.5.0/24"), range("10.0.5.0/24")));
  assert(!overlaps(range("10.0.5.0/24"), range("10.0.6.0/24")));
  assert(!overlaps(range("10.0.5.0/25"), range("10.0.5.128/25")));
  assert(overlaps(range("192.0.2.2/32"), range("192.0.2.0/24")));
});

Deno.test("a VXLAN peer is a unicast IPv4 host address", () => {
  assert.deepEqual(judgePeer("203.0.113.5"), undefined);
  assert.deepEqual(judgePeer("10.1.2.3"), undefined);
  for (const bad of ["example.org", "::1", "127.0.0.1", "0.0.0.0", "169.254.1.1", "239.0.0.8"]) {
    assert(judgePeer(bad) !== undefined, bad);
  }
});

Deno.test("device names fit Linux's 15 characters and carry the node's prefixes", () => {
  const names = lanNames("abcd2345", "dbc-", "dbc");
  assert.deepEqual(names, {
    network: "dbc-lan-abcd2345",
    bridge: "dbcbabcd2345",
    vxlan: "dbcxabcd2345",
  });
  assert.throws(() => lanNames("../etc", "dbc-", "dbc"));
  assert.throws(() => lanNames("abcd2345", "dbc-", "toolong"));
});

Deno.test("the network XML passes virt-xml-validate, with DHCP where the LAN is served", async () => {
  const dir = await scratchDir("lan-xml");
  const record: LanRecord = {
    id: "abcd2345",
    account: "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
    name: "office1",
    cidr: "10.213.7.0/24",
    servesDhcp: true,
    vni: 4242,
    peers: [],
    createdAt: 0,
  };
  const served = networkXml(record, lanNames(record.id, "dbc-", "dbc"));
  assert(served.includes('<range start="10.213.7.2" end="10.213.7.254">'), served);
  assert(served.includes('<ip address="10.213.7.1" prefix="24">'), served);
  assert(served.includes('<mtu size="1450"/>'), served);
  assert(!served.includes("<forward"), "isolated: no forward element");
  const joined = networkXml({ ...record, servesDhcp: false }, lanNames(record.id, "dbc-", "dbc"));
  assert(!joined.includes("<ip"), joined);
  for (const [name, xml] of [["served", served], ["joined", joined]]) {
    const path = `${dir}/${name}.xml`;
    await Deno.writeTextFile(path, xml!);
    const result = await run("virt-xml-validate", [path, "network"]);
    assert.deepEqual(result.code, 0, `${name}: ${result.stderr}${result.stdout}`);
  }
  await Deno.remove(dir, { recursive: true });
});
