/**
 * A create is answered (202) only once the node service has written the
 * instance's record (`vm.recorded`, `container.recorded`), so the id a renter
 * is given survives a node killed right after the answer; a create refused
 * before any record is answered with the refusal. The crash test
 * (`deno task crashtest`) found 202s whose instance no restart knew.
 */
import assert from "node:assert/strict";
import { type AppDeps, createApp } from "../../http/mod.ts";
import { RpcError, silentLogger } from "../../mod/mod.ts";
import { RecordWaiters } from "../../node_service/record_waiters.ts";
import { devWallets } from "../wallets.ts";
import { appRequest } from "./app_request.ts";

type Deferred<T> = { promise: Promise<T>; resolve: (value: T) => void };

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((settle) => (resolve = settle));
  return { promise, resolve };
}

/**
 * A node service whose record the test writes (`recorded`), and whose create runs until the test
 * ends, or is refused at once.
 */
function heldService(options: { refuse?: boolean } = {}) {
  const asked = deferred<string>();
  const recorded = deferred<{ recorded: boolean }>();
  const call = ((method: string) => {
    if (method === "vm.recorded" || method === "container.recorded") {
      asked.resolve(method);
      return recorded.promise;
    }
    if (method === "vm.create" || method === "container.create") {
      return options.refuse
        ? Promise.reject(new RpcError("not_found", "no image"))
        : new Promise(() => {});
    }
    return Promise.reject(new RpcError("unavailable", `${method} is not wired in this test`));
  }) as unknown as AppDeps["call"];
  return { call, asked, recorded };
}

const CREATES = [
  {
    path: "/api/v1/tasks/start",
    body: { image_name: "debian-12", cpu_cores: 1, mem_size: 0.5 },
    method: "vm.recorded",
  },
  {
    path: "/api/v1/containers/create",
    body: { image: "busybox:latest" },
    method: "container.recorded",
  },
] as const;

for (const create of CREATES) {
  Deno.test(`${create.path} answers 202 only once the record is written`, async () => {
    const { alice } = await devWallets();
    const service = heldService();
    const app = createApp({ call: service.call, log: silentLogger });
    let answered = false;
    const answer = appRequest(app, "POST", create.path, { signer: alice }, create.body)
      .then((response) => {
        answered = true;
        return response;
      });
    assert.equal(await service.asked.promise, create.method);
    // A turn of the event loop for an answer that does not wait: there must be none.
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(answered, false, "answered before the record was written");
    service.recorded.resolve({ recorded: true });
    const response = await answer;
    assert.equal(response.status, 202, JSON.stringify(response.body));
    assert.equal(response.body.data.state, "creating");
  });

  Deno.test(`${create.path} refused before any record is answered with the refusal`, async () => {
    const { alice } = await devWallets();
    // The node service never says "recorded": its create is refused before writing anything.
    const service = heldService({ refuse: true });
    const app = createApp({ call: service.call, log: silentLogger });
    const response = await appRequest(app, "POST", create.path, { signer: alice }, create.body);
    assert.equal(response.status, 404, JSON.stringify(response.body));
    assert.match(response.body.error_message, /no image/);
  });
}

Deno.test("record waiters: answered when the record is written, or when the create ends without one", async () => {
  const records = new Set<string>();
  const waiters = new RecordWaiters((id) => records.has(id));
  const written = waiters.when("vm-a");
  const refused = waiters.when("vm-b");
  records.add("vm-a");
  waiters.settle("vm-a");
  waiters.settle("vm-b");
  assert.equal(await written, true);
  assert.equal(await refused, false);
  assert.equal(await waiters.when("vm-a"), true, "a record already there answers at once");
  assert.equal(await waiters.when("vm-c", 10), false, "a create that never comes times out");
});
