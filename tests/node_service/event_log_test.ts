/** The event log on a real SQLite file: filters, action prefixes and paging through `events.list`. */
import assert from "node:assert/strict";
import { openDatabase } from "../../mod/mod.ts";
import { eventHandlers, EventLog } from "../../node_service/event_log.ts";
import { SERVICE_MIGRATIONS } from "../../node_service/migrations.ts";
import { scratchDir } from "../helpers.ts";

Deno.test("events.list filters by action, prefix, actor, target, result and time, and pages without gaps", async () => {
  const dir = await scratchDir("event-log");
  const db = openDatabase(`${dir}/node.db`, SERVICE_MIGRATIONS);
  try {
    let now = 1_000;
    const log = new EventLog(db, () => now);
    const handler = eventHandlers(log)["events.list"];
    const list = (params: Parameters<typeof handler>[0]) => handler(params, { from: "http" });
    const rows: Array<[string, string, string, "ok" | "error"]> = [
      ["node", "node_service.start", "n1", "ok"],
      ["5Alice", "vm.create", "vm-1", "ok"],
      ["5Alice", "vm.start", "vm-1", "error"],
      ["5Bob", "vm_image.add", "ubuntu", "ok"],
      ["5Bob", "vmx.odd", "x", "ok"],
      ["5Bob", "container.create", "ct-1", "ok"],
      ["node", "vm.delete", "vm-1", "ok"],
    ];
    for (const [actor, action, target, result] of rows) {
      log.record({ actor, action, target, result, detail: { step: now } });
      now += 10;
    }
    const actions = async (params: Parameters<typeof list>[0]) =>
      (await list(params)).events.map((event) => event.action);

    assert.deepEqual(await actions({ action: "vm.create" }), ["vm.create"]);
    // The prefix matches its own family only: not vm_image.* nor vmx.*.
    assert.deepEqual(await actions({ action: "vm." }), ["vm.delete", "vm.start", "vm.create"]);
    assert.deepEqual(await actions({ actor: "5Bob" }), [
      "container.create",
      "vmx.odd",
      "vm_image.add",
    ]);
    assert.deepEqual(await actions({ target: "vm-1", result: "error" }), ["vm.start"]);
    assert.deepEqual(await actions({ since: 1_020, until: 1_040 }), ["vm_image.add", "vm.start"]);
    const one = (await list({ action: "vm.create" })).events[0]!;
    assert.deepEqual(one.detail, { step: 1_010 });
    assert.equal(one.at, 1_010);

    // Pages of 3: newest first, each `next_before_id` leading to the next, none repeated or lost.
    const seen: string[] = [];
    let before: number | undefined;
    let pages = 0;
    do {
      const page = await list({ limit: 3, before_id: before });
      seen.push(...page.events.map((event) => event.action));
      before = page.next_before_id ?? undefined;
      pages++;
    } while (before !== undefined);
    assert.equal(pages, 3);
    assert.deepEqual(seen, rows.map(([, action]) => action).reverse());
    // A page that ends exactly at the last event says there is no more.
    assert.equal((await list({ limit: 7 })).next_before_id, null);
    assert.notEqual((await list({ limit: 6 })).next_before_id, null);
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});
