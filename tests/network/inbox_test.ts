import assert from "node:assert/strict";
import { ManualClock, RpcError } from "../../mod/mod.ts";
import { Inbox } from "../../network/inbox.ts";
import { MAX_INBOX_MESSAGES, SUBSCRIPTION_IDLE_MS } from "../../network/mod.ts";

const ORIGIN = "12D3KooWLNDhWRc1VNwjKGS69Qbu2i4SVKh6aZW3HEc9T5pTGH5k";
const broadcast = (topic: string, body: string, nonce: string = crypto.randomUUID()) => ({
  nonce,
  origin: ORIGIN,
  topic,
  body,
  receivedAt: 1,
});

Deno.test("a subscriber gets the broadcasts of its topics, and a waiting poll wakes up for one", async () => {
  const clock = new ManualClock(0);
  const inbox = new Inbox({ clock, nodeId: "self" });
  const id = inbox.subscribe("node_service", ["service.summary"], ["broadcast"]);
  const polling = inbox.receive(id, "node_service", 10_000, 10);
  assert.equal(inbox.deliverBroadcast(broadcast("other.topic", "{}")), 0);
  assert.equal(inbox.deliverBroadcast(broadcast("service.summary", '{"gpus":2}', "n1")), 1);
  const { messages } = await polling;
  assert.deepEqual(messages, [{
    kind: "broadcast",
    nonce: "n1",
    from: ORIGIN,
    topic: "service.summary",
    body: { gpus: 2 },
    received_at: 1,
  }]);
  // A body that is not JSON reaches nobody.
  assert.equal(inbox.deliverBroadcast(broadcast("service.summary", "{not json")), 0);
});

Deno.test("a request goes to a subscriber and its reply goes back; without one it fails clearly", async () => {
  const clock = new ManualClock(0);
  const inbox = new Inbox({ clock, nodeId: "self" });
  const none = await inbox.request(ORIGIN, "node.info", {}, 5_000);
  assert.deepEqual(none, {
    type: "error",
    code: "not_found",
    message: "node self has no handler for node.info",
  });

  const id = inbox.subscribe("node_service", ["node.info"], ["request"]);
  const answer = inbox.request(ORIGIN, "node.info", { detail: true }, 5_000);
  const { messages: [request] } = await inbox.receive(id, "node_service", 0, 10);
  assert.ok(request?.kind === "request");
  assert.deepEqual(request.body, { detail: true });
  assert.equal(inbox.reply(request.request_id, { ok: true, body: { cpu: 8 } }), true);
  assert.deepEqual(await answer, { type: "app", topic: "node.info", body: { cpu: 8 } });
  assert.equal(inbox.reply(request.request_id, { ok: true, body: {} }), false, "answered once");

  const late = inbox.request(ORIGIN, "node.info", {}, 1_000);
  await clock.advanceAsync(1_000);
  assert.deepEqual(await late, {
    type: "error",
    code: "timeout",
    message: "no answer to node.info in time",
  });
});

Deno.test("queues are bounded, another worker cannot read a subscription, idle ones are dropped", async () => {
  const clock = new ManualClock(0);
  const inbox = new Inbox({ clock, nodeId: "self" });
  const id = inbox.subscribe("http", ["t"], ["broadcast"]);
  for (let index = 0; index < MAX_INBOX_MESSAGES + 10; index++) {
    inbox.deliverBroadcast(broadcast("t", String(index)));
  }
  await assert.rejects(inbox.receive(id, "node_service", 0, 10), RpcError);
  const { messages, dropped } = await inbox.receive(id, "http", 0, MAX_INBOX_MESSAGES + 10);
  assert.equal(messages.length, MAX_INBOX_MESSAGES);
  assert.equal(dropped, 10);
  assert.equal(messages[0]?.body, 10, "the oldest went first");
  clock.advance(SUBSCRIPTION_IDLE_MS + 1);
  inbox.deliverBroadcast(broadcast("t", "1"));
  await assert.rejects(
    inbox.receive(id, "http", 0, 1),
    (error: RpcError) => error.code === "not_found",
  );
});
