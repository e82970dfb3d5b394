/** Delegated sessions on a real SQLite file: made, resolved, listed, revoked, expired; ids kept hashed. */
import assert from "node:assert/strict";
import { MAX_SESSIONS_PER_ACCOUNT, openDatabase, RpcError } from "../../mod/mod.ts";
import { EventLog } from "../../node_service/event_log.ts";
import { SERVICE_MIGRATIONS } from "../../node_service/migrations.ts";
import { sessionHandlers, SessionStore } from "../../node_service/sessions.ts";
import { scratchDir } from "../helpers.ts";

const ALICE = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
const BOB = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
const notFound = (error: RpcError) => error instanceof RpcError && error.code === "not_found";

Deno.test("a session resolves to its renter until it expires or is revoked; only its hash is stored", async () => {
  const dir = await scratchDir("sessions");
  const db = openDatabase(`${dir}/node.db`, SERVICE_MIGRATIONS);
  try {
    let now = 1_000_000;
    const store = new SessionStore(db, () => now);
    const events = new EventLog(db, () => now);
    const handlers = sessionHandlers(store, events);
    const context = { from: "http" as const };

    const made = await handlers["session.create"](
      { account: ALICE, ttl_s: 3600, label: "ci" },
      context,
    );
    assert.match(made.session_id, /^ses_[1-9A-HJ-NP-Za-km-z]{32}$/);
    assert.equal(made.prefix, made.session_id.slice(0, 10));
    assert.equal(made.expires_at, now + 3_600_000);
    assert.deepEqual(await handlers["session.resolve"]({ session_id: made.session_id }, context), {
      account: ALICE,
      prefix: made.prefix,
      expires_at: made.expires_at,
    });
    // The database never holds the id itself.
    const raw = JSON.stringify(db.prepare("SELECT * FROM sessions").all());
    assert.equal(raw.includes(made.session_id), false);
    assert.ok(raw.includes(made.prefix));

    // Unknown ids, and ids one character off, are refused alike.
    const other = `${made.session_id.slice(0, -1)}${made.session_id.endsWith("2") ? "3" : "2"}`;
    assert.throws(() => store.resolve(other), notFound);

    // Listed by its renter only; revoked, it stops resolving at once, and stays listed as revoked.
    assert.equal(store.list(BOB).length, 0);
    assert.equal(store.list(ALICE)[0]!.label, "ci");
    assert.throws(() => store.revoke(BOB, made.prefix), notFound);
    const revoked = await handlers["session.revoke"](
      { account: ALICE, prefix: made.prefix },
      context,
    );
    assert.equal(revoked.revoked_at, now);
    assert.throws(() => store.resolve(made.session_id), notFound);
    assert.equal(store.list(ALICE)[0]!.revoked_at, now);

    // Expiry: live up to its end, gone after.
    const short = store.create(ALICE, 60, "");
    now += 59_999;
    assert.equal(store.resolve(short.session_id).account, ALICE);
    now += 1;
    assert.throws(() => store.resolve(short.session_id), notFound);

    // A renter holds a bounded number of live sessions.
    for (let index = 0; index < MAX_SESSIONS_PER_ACCOUNT; index++) store.create(BOB, 600, "");
    assert.throws(
      () => store.create(BOB, 600, ""),
      (error: RpcError) => error.code === "conflict",
    );
    assert.deepEqual(
      events.list({ action: "session.", limit: 10 }).map((event) => event.action).reverse(),
      ["session.create", "session.revoke"],
    );
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});
