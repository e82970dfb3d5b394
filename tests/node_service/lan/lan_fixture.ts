/**
 * The node service's LAN handlers as the worker builds them, on a real SQLite file and the real
 * host (libvirt networks, VXLAN devices named with the tests' prefixes), behind a call checked
 * against the message catalogue both ways as at the worker boundary; `close()` removes what the
 * LANs made. For the HTTP and CLI tests.
 */
import type { AppDeps } from "../../../http/mod.ts";
import { openDatabase, silentLogger } from "../../../mod/mod.ts";
import { EventLog } from "../../../node_service/event_log.ts";
import { startLans, SystemLanHost } from "../../../node_service/lan/mod.ts";
import { SERVICE_MIGRATIONS } from "../../../node_service/migrations.ts";
import { sessionHandlers, SessionStore } from "../../../node_service/sessions.ts";
import { VmStore } from "../../../node_service/vm/mod.ts";
import { scratchDir } from "../../helpers.ts";
import { checkedCall, leaseCheck } from "../../http/checked_call.ts";
import { LIBVIRT_URI, requireLibvirt, run, testPrefix, virsh } from "../vm/libvirt_fixture.ts";

/** The node service's LAN (and session) handlers on a real database and host, behind a checked call. */
export async function lanNodeService(renters: string[], fallback?: AppDeps["call"]) {
  await requireLibvirt();
  const dir = await scratchDir("http-lan");
  const prefix = testPrefix();
  const db = openDatabase(`${dir}/node.db`, SERVICE_MIGRATIONS);
  const events = new EventLog(db, Date.now);
  const records = new VmStore(db, Date.now);
  const lans = startLans({
    config: { role: "gpu", libvirt_uri: LIBVIRT_URI, vm_domain_prefix: prefix },
    paths: { serviceDir: dir },
    db,
    events,
    members: (id) => records.membersOfLan(id),
    lastUse: (id) => records.lastUseOfLan(id),
    now: Date.now,
    log: silentLogger,
    host: new SystemLanHost({ libvirtUri: LIBVIRT_URI }),
    // The tests' device names, which scripts/system/test_leftovers.sh removes after a crash.
    devicePrefix: "dbt",
  });
  await lans.restored;
  const call = checkedCall({
    ...lans.handlers,
    ...sessionHandlers(new SessionStore(db, Date.now), events),
    ...leaseCheck(renters),
  }, fallback);
  return {
    call,
    events,
    /** The node's database, where a test records VMs on its LANs. */
    db,
    async networks(): Promise<string[]> {
      const listed = await virsh("net-list", "--all", "--name");
      return listed.stdout.split("\n").map((line) => line.trim()).filter((name) =>
        name.startsWith(prefix)
      );
    },
    async close() {
      for (const account of renters) {
        for (const lan of await lans.service.list(account)) {
          await run("ip", ["link", "del", "dev", lan.vxlan_name]);
        }
      }
      for (const name of await this.networks()) {
        await virsh("net-destroy", name);
        await virsh("net-undefine", name);
      }
      db.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}
