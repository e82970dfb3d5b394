/**
 * Monitoring server addresses: `host:port` only, and no loopback, private or
 * link-local address unless the operator allows them; a list with one bad
 * address is refused whole.
 */
import assert from "node:assert/strict";
import { formatServer, judgeAddress, judgeServers } from "../../../node_service/monitor/mod.ts";
import { ipv4InRanges } from "../../../node_service/monitor/address.ts";
import { NON_PUBLIC_IPV4 } from "../../../node_service/host/mod.ts";

const PUBLIC = { allowPrivate: false };
const LAN = { allowPrivate: true };

Deno.test("host:port with a name, an IPv4 or a bracketed IPv6 address is taken, names lower-cased", () => {
  assert.deepEqual(judgeAddress("Zabbix.Example.com:10051", PUBLIC), {
    ok: true,
    server: { host: "zabbix.example.com", port: 10051 },
  });
  assert.deepEqual(judgeAddress("116.169.53.132:10051", PUBLIC), {
    ok: true,
    server: { host: "116.169.53.132", port: 10051 },
  });
  const v6 = judgeAddress("[2001:DB8::10]:10051", PUBLIC);
  assert.deepEqual(v6, { ok: true, server: { host: "2001:db8::10", port: 10051 } });
  assert.equal(v6.ok && formatServer(v6.server), "[2001:db8::10]:10051");
  assert.equal(formatServer({ host: "a.example", port: 1 }), "a.example:1");
});

Deno.test("anything but host:port is refused, saying why", () => {
  const cases: Array<[string, RegExp]> = [
    ["zabbix.example.com", /not match format ip:port/],
    ["zabbix.example.com:", /not match format ip:port/],
    [":10051", /not a host name/],
    ["http://zabbix.example.com:10051", /not match format ip:port/],
    ["a.example:10051/x", /not match format ip:port/],
    ["a.example:0", /port must be from 1 to 65535/],
    ["a.example:65536", /port must be from 1 to 65535/],
    ["a.example:100000", /not match format ip:port/],
    ["a.example:-1", /not match format ip:port/],
    ["2001:db8::10:10051", /not match format ip:port/],
    ["[zabbix]:10051", /not an IPv6 address/],
    ["[::ffff:zz]:10051", /not an IPv6 address/],
    ["1.2.3:10051", /not an IPv4 address/],
    ["1.2.3.256:10051", /not an IPv4 address/],
    ["01.2.3.4:10051", /not an IPv4 address/],
    ["2130706433:10051", /not an IPv4 address/],
    ["under_score.example:10051", /not a host name/],
    ["-lead.example:10051", /not a host name/],
    ["a..example:10051", /not a host name/],
    [" a.example:10051", /not a host name/],
    [`${"a".repeat(64)}.example:10051`, /not a host name/],
  ];
  for (const [text, reason] of cases) {
    const verdict = judgeAddress(text, PUBLIC);
    assert.equal(verdict.ok, false, text);
    assert.match(!verdict.ok ? verdict.reason : "", reason, text);
    assert.ok(!verdict.ok && verdict.reason.includes(JSON.stringify(text)), text);
  }
});

Deno.test("loopback, private and link-local addresses are refused unless the operator allows them", () => {
  const inner = [
    "127.0.0.1:10051",
    "10.1.2.3:10051",
    "172.16.0.9:10051",
    "172.31.255.255:10051",
    "192.168.1.20:10051",
    "169.254.169.254:80",
    "100.64.0.1:10051",
    "0.0.0.0:10051",
    "localhost:10051",
    "LOCALHOST:10051",
    "zabbix.localhost:10051",
    "[::1]:10051",
    "[fd00::5]:10051",
    "[fe80::1]:10051",
    "[::ffff:127.0.0.1]:10051",
  ];
  for (const text of inner) {
    const refused = judgeAddress(text, PUBLIC);
    assert.equal(refused.ok, false, text);
    assert.match(!refused.ok ? refused.reason : "", /monitor_allow_private/, text);
    assert.equal(judgeAddress(text, LAN).ok, true, text);
  }
  for (const text of ["172.32.0.1:10051", "8.8.8.8:53", "192.169.0.1:1", "[2606:4700::1]:443"]) {
    assert.equal(judgeAddress(text, PUBLIC).ok, true, text);
  }
});

Deno.test("CIDR membership of IPv4 addresses, at the ranges' edges", () => {
  assert.ok(ipv4InRanges("10.255.255.255", ["10.0.0.0/8"]));
  assert.ok(!ipv4InRanges("11.0.0.0", ["10.0.0.0/8"]));
  assert.ok(ipv4InRanges("172.31.0.1", ["172.16.0.0/12"]));
  assert.ok(!ipv4InRanges("172.32.0.1", ["172.16.0.0/12"]));
  assert.ok(ipv4InRanges("255.255.255.255", NON_PUBLIC_IPV4));
  assert.ok(ipv4InRanges("203.0.113.7", NON_PUBLIC_IPV4), "documentation range");
  assert.ok(!ipv4InRanges("203.0.114.7", NON_PUBLIC_IPV4));
  assert.ok(ipv4InRanges("1.2.3.4", ["0.0.0.0/0"]));
});

Deno.test("a list: at most two, none twice, and one bad address refuses it whole", () => {
  assert.deepEqual(judgeServers([], PUBLIC), { ok: true, servers: [] });
  assert.deepEqual(judgeServers(["a.example:1", "8.8.8.8:10051"], PUBLIC), {
    ok: true,
    servers: [{ host: "a.example", port: 1 }, { host: "8.8.8.8", port: 10051 }],
  });
  assert.deepEqual(judgeServers(["a.example:1", "b.example:1", "c.example:1"], PUBLIC), {
    ok: false,
    reason: "can not enter more than 2 servers",
  });
  const twice = judgeServers(["A.example:1", "a.example:1"], PUBLIC);
  assert.equal(twice.ok, false);
  assert.match(!twice.ok ? twice.reason : "", /named twice/);
  const bad = judgeServers(["a.example:1", "10.0.0.1:1"], PUBLIC);
  assert.equal(bad.ok, false);
  assert.match(!bad.ok ? bad.reason : "", /"10\.0\.0\.1:1".*loopback, private or link-local/);
});
