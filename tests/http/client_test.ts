/**
 * The API client against real HTTP servers on loopback: the node's app with
 * its real wallet authorisation (a stand-in `call` behind it), wallets made
 * by polkadot-js, and plain `Deno.serve` servers for what only a misbehaving
 * server does (no answer, a proxy's page, a stream left open).
 */
import assert from "node:assert/strict";
import { encodeMultiAddress } from "@polkadot/util-crypto";
import {
  ApiClient,
  ApiClientError,
  multisigSigner,
  type ServerSentEvent,
  type Signer,
  walletSigner,
} from "../../http/mod.ts";
import { type MachineConfig, parseWalletSignature, verifyWalletSignature } from "../../mod/mod.ts";
import {
  ABSENT_NODE_ID,
  BROKEN_IMAGE,
  startTestApi,
  TEST_NODE_ID,
  TEST_NODE_PROOF,
  TEST_NODE_STATUS,
} from "../fixtures/api_server.ts";
import { ECDSA_KEY, ED25519_KEY } from "../fixtures/ssh_keys.ts";
import { freePort } from "../helpers.ts";
import { devWallets } from "../wallets.ts";

const CONFIG: MachineConfig = {
  gpu_model: "NVIDIA H100 80GB HBM3",
  gpu_count: 2,
  cpu_model: "AMD EPYC 9554",
  cpu_cores: 64,
  memory_gib: 512,
  disk_gib: 4000,
};

async function rejection(promise: Promise<unknown>): Promise<ApiClientError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ApiClientError, `expected ApiClientError, got ${error}`);
    return error;
  }
  assert.fail("expected the request to fail");
}

Deno.test("requests signed by polkadot-js wallets are accepted by the app's wallet auth", async () => {
  const { alice, bobEd } = await devWallets();
  const api = startTestApi();
  try {
    // A keyring pair is a Signer as it is.
    const client = new ApiClient({ baseUrl: api.url, signer: alice });
    const machine = await client.registerMachine({
      machine_id: "m-client-1",
      node_proof: TEST_NODE_PROOF,
      config: CONFIG,
      prices: { hour: "1000" },
    });
    assert.equal(machine.owner, alice.address);
    const register = api.calls.find((call) => call.method === "ledger.machine_register");
    assert.deepEqual(
      (register?.params.signed_by as { account: string }).account,
      alice.address,
    );

    const rental = await client.rent({ machine_id: "m-client-1", unit: "hour", count: 3 });
    assert.equal(rental.renter, alice.address);
    const renewed = await client.renew(rental.rental_id, { unit: "hour", count: 1 });
    assert.equal(renewed.rental_id, rental.rental_id);
    assert.equal((await client.rental(rental.rental_id)).machine_id, "m-client-1");

    // ed25519 wallets sign too; another wallet may not renew Alice's rental.
    const bobClient = new ApiClient({ baseUrl: api.url, signer: bobEd });
    const refused = await rejection(bobClient.renew(rental.rental_id, { unit: "hour", count: 1 }));
    assert.equal(refused.status, 403);
    assert.equal(refused.errorCode, -32003);

    // Reads work without a signer, with a query string.
    const open = new ApiClient({ baseUrl: api.url });
    const list = await open.ledgerMachines({ status: "online", owner: alice.address });
    assert.deepEqual(list.machines.map((item) => item.machine_id), ["m-client-1"]);
    assert.equal((await open.node()).node_id, TEST_NODE_STATUS.node_id);
  } finally {
    await api.close();
  }
});

Deno.test("a tampered or missing signature is refused with 401 and becomes an ApiClientError", async () => {
  const { alice, bob } = await devWallets();
  const api = startTestApi();
  try {
    const body = {
      machine_id: "m-client-2",
      config: CONFIG,
      prices: { day: "9" },
      node_proof: TEST_NODE_PROOF,
    };
    // Claims to be Alice, signs with Bob's key.
    const impostor: Signer = { address: alice.address, sign: (message) => bob.sign(message) };
    const forged = await rejection(
      new ApiClient({ baseUrl: api.url, signer: impostor }).registerMachine(body),
    );
    assert.equal(forged.status, 401);
    assert.equal(forged.errorCode, -32001);
    assert.equal(forged.kind, "api");
    assert.match(forged.message, /^bad_signature/);

    // A signature of other bytes than the canonical message.
    const sloppy: Signer = {
      address: alice.address,
      sign: (message) => alice.sign(Uint8Array.from([...message, 0x20])),
    };
    const changed = await rejection(
      new ApiClient({ baseUrl: api.url, signer: sloppy }).registerMachine(body),
    );
    assert.match(changed.message, /^bad_signature/);

    const unsigned = await rejection(new ApiClient({ baseUrl: api.url }).registerMachine(body));
    assert.equal(unsigned.status, 401);
    assert.match(unsigned.message, /^missing/);

    // The client's nonce is what the node remembers: the same nonce twice is a replay.
    const sameNonce = new ApiClient({ baseUrl: api.url, signer: alice, nonce: () => "n-fixed-1" });
    await sameNonce.registerMachine(body);
    const replay = await rejection(sameNonce.registerMachine(body));
    assert.match(replay.message, /^replayed/);

    // A clock far off: the signed time lies outside the node's window.
    const late = new ApiClient({
      baseUrl: api.url,
      signer: alice,
      now: () => Date.now() - 600_000,
    });
    assert.match((await rejection(late.registerMachine(body))).message, /^stale_timestamp/);
    assert.equal(
      api.calls.filter((call) => call.method === "ledger.machine_register").length,
      1,
    );
  } finally {
    await api.close();
  }
});

Deno.test("a multisig account acts when its threshold of signatories signed", async () => {
  const { alice, bob, charlie } = await devWallets();
  const api = startTestApi();
  try {
    const signatories = [alice.address, bob.address, charlie.address];
    const account = encodeMultiAddress(signatories, 2, 42);
    const two = multisigSigner({ signers: [alice, charlie], threshold: 2, signatories });
    assert.equal(two.address, account);
    const machine = await new ApiClient({ baseUrl: api.url, signer: two }).registerMachine({
      machine_id: "m-multisig",
      node_proof: TEST_NODE_PROOF,
      config: CONFIG,
      prices: { hour: "5" },
    });
    assert.equal(machine.owner, account);

    const one = multisigSigner({ signers: [bob], threshold: 2, signatories });
    const short = await rejection(
      new ApiClient({ baseUrl: api.url, signer: one }).registerMachine({
        machine_id: "m-multisig-2",
        node_proof: TEST_NODE_PROOF,
        config: CONFIG,
        prices: { hour: "5" },
      }),
    );
    assert.equal(short.status, 401);
    assert.match(short.message, /^threshold_not_met/);

    assert.throws(
      () =>
        multisigSigner({
          signers: [alice],
          threshold: 1,
          signatories: [bob.address, charlie.address],
        }),
      /not one of the signatories/,
    );
  } finally {
    await api.close();
  }
});

Deno.test("the API's error envelopes become ApiClientErrors with status and code", async () => {
  const { alice } = await devWallets();
  const api = startTestApi();
  try {
    const client = new ApiClient({ baseUrl: api.url, signer: alice });
    const missing = await rejection(client.ledgerMachine("m-nowhere"));
    assert.equal(missing.status, 404);
    assert.equal(missing.errorCode, -32004);
    assert.match(missing.message, /no machine m-nowhere/);

    const invalid = await rejection(client.rent({ machine_id: "m1", unit: "hour", count: 0 }));
    assert.equal(invalid.status, 400);
    assert.equal(invalid.errorCode, -25);
    assert.match(invalid.message, /count/);

    const nowhere = await rejection(client.request("GET", "/api/v1/no/such/thing"));
    assert.equal(nowhere.status, 404);
    assert.equal(nowhere.errorCode, -32601);

    const unwired = await rejection(client.peers());
    assert.equal(unwired.status, 503);
    assert.equal(unwired.errorCode, -32602);
  } finally {
    await api.close();
  }
});

Deno.test("VMs and containers through the renter routes: signed over path and query, the signer's own only", async () => {
  const { alice, bob } = await devWallets();
  const api = startTestApi();
  try {
    const client = new ApiClient({ baseUrl: api.url, signer: alice });
    const accepted = await client.createVm(TEST_NODE_ID, {
      image_name: "ubuntu-22.04.qcow2",
      gpu_count: 1,
      cpu_cores: 4,
      mem_size: 8,
      disk_size: undefined,
      ssh_key: [ED25519_KEY, ECDSA_KEY],
      password: "Correct Horse 9",
    });
    assert.equal(accepted.state, "creating");
    assert.match(accepted.task_id, /^vm-/);
    const vm = accepted.task_id;
    await finished(client, accepted.operation_id);
    const created = api.calls.find((call) => call.method === "vm.create")!.params;
    assert.equal(created.owner, alice.address);
    assert.equal(created.memory_mib, 8192);
    assert.deepEqual(created.gpus, { count: 1 });
    assert.deepEqual(created.ssh_keys, [ED25519_KEY, ECDSA_KEY]);

    const vmList = await client.listVms(TEST_NODE_ID);
    assert.deepEqual(vmList.tasks.map((item) => item.id), [vm]);
    assert.doesNotMatch(JSON.stringify(vmList), /Correct Horse/);
    const detail = await client.getVm(TEST_NODE_ID, vm);
    assert.deepEqual(detail.login, { protocol: "ssh", host: "127.0.0.1", port: 30_001 });
    assert.deepEqual(detail.credentials, {
      user: "dbc",
      password: "Correct Horse 9",
      password_ssh: true,
      ssh_keys: [ED25519_KEY, ECDSA_KEY],
    });
    assert.equal((await client.vmAction(TEST_NODE_ID, vm, "stop")).state, "stopped");
    assert.equal((await client.vmAction(TEST_NODE_ID, vm, "reset")).state, "running");
    const logs = await client.vmLogs(TEST_NODE_ID, vm, { from: "tail", lines: 20 });
    assert.deepEqual(logs.lines, ["tail 0", "tail 1", "tail 2"]);

    const container = await client.createContainer(TEST_NODE_ID, {
      image: "alpine:3.20",
      command: ["sleep", "60"],
      ssh: true,
    });
    await finished(client, container.operation_id);
    const listed = await client.listContainers(TEST_NODE_ID);
    assert.deepEqual(listed.containers.map((item) => item.ports), [[
      { container_port: 22, protocol: "tcp", host_port: 30_022 },
    ]]);
    const output = await client.containerLogs(TEST_NODE_ID, container.task_id, {
      from: "head",
      lines: 5,
    });
    assert.deepEqual(output.lines.map((line) => line.stream), ["stdout", "stderr"]);
    assert.equal(
      (await client.containerAction(TEST_NODE_ID, container.task_id, "delete")).state,
      "deleted",
    );

    const node = encodeURIComponent(TEST_NODE_ID);
    const seen = api.requests.map((request) => `${request.method} ${request.pathAndQuery}`)
      .filter((line) => !line.includes("/operations/"));
    assert.deepEqual(seen, [
      "POST /api/v1/tasks/start",
      `GET /api/v1/tasks?node_id=${node}`,
      `GET /api/v1/tasks/${vm}?node_id=${node}`,
      `POST /api/v1/tasks/${vm}/stop`,
      `POST /api/v1/tasks/${vm}/reset`,
      `GET /api/v1/tasks/${vm}/trace?node_id=${node}&flag=tail&line_num=20`,
      "POST /api/v1/containers/create",
      `GET /api/v1/containers?node_id=${node}`,
      `GET /api/v1/containers/${container.task_id}/logs?node_id=${node}&flag=head&line_num=5`,
      `POST /api/v1/containers/${container.task_id}/delete`,
    ]);
    assert.deepEqual(api.requests[0]!.body, {
      peer_nodes_list: [TEST_NODE_ID],
      image_name: "ubuntu-22.04.qcow2",
      gpu_count: 1,
      cpu_cores: 4,
      mem_size: 8,
      ssh_key: [ED25519_KEY, ECDSA_KEY],
      password: "Correct Horse 9",
    });
    assert.deepEqual(
      api.requests.find((request) => request.pathAndQuery.endsWith("/stop"))!.body,
      { peer_nodes_list: [TEST_NODE_ID] },
    );

    // Another renter sees none of it; a node that is not there is a clear error.
    const stranger = new ApiClient({ baseUrl: api.url, signer: bob });
    assert.deepEqual((await stranger.listVms(TEST_NODE_ID)).tasks, []);
    const hidden = await rejection(stranger.getVm(TEST_NODE_ID, vm));
    assert.equal(hidden.status, 404);
    assert.doesNotMatch(hidden.message, /vnc-secret|30001/);
    const absent = await rejection(client.listVms(ABSENT_NODE_ID));
    assert.equal(absent.status, 503);
    assert.equal(absent.errorCode, -32602);
    assert.match(absent.message, /cannot be reached/);
  } finally {
    await api.close();
  }
});

/** Waits for an operation through its event stream; its last event. */
async function finished(client: ApiClient, operationId: string): Promise<ServerSentEvent> {
  let last: ServerSentEvent | undefined;
  // A time limit, so that a client that does not stop fails here rather than hanging the suite.
  const limit = { signal: AbortSignal.timeout(30_000) };
  for await (const event of client.operationEvents(TEST_NODE_ID, operationId, limit)) last = event;
  assert.ok(last, "the stream sent no event");
  return last;
}

Deno.test("operation events arrive as they happen and stop at the final event", async () => {
  const { alice } = await devWallets();
  const api = startTestApi();
  try {
    const client = new ApiClient({ baseUrl: api.url, signer: alice });
    const { operation_id } = await client.createVm(TEST_NODE_ID, {
      image_name: "ubuntu-22.04.qcow2",
      cpu_cores: 1,
      mem_size: 1,
    });
    const seen: ServerSentEvent[] = [];
    const limit = { signal: AbortSignal.timeout(30_000) };
    for await (const event of client.operationEvents(TEST_NODE_ID, operation_id, limit)) {
      seen.push(event);
    }
    // The create takes a moment: the stream shows it running, then done.
    assert.deepEqual(seen.map((event) => event.event), ["running", "done"]);
    const done = JSON.parse(seen[1]!.data);
    assert.equal(done.operation_id, operation_id);
    assert.equal(done.state, "done");
    assert.equal((await client.operation(TEST_NODE_ID, operation_id)).state, "done");

    const broken = await client.createVm(TEST_NODE_ID, {
      image_name: BROKEN_IMAGE,
      cpu_cores: 1,
      mem_size: 1,
    });
    const last = await finished(client, broken.operation_id);
    assert.equal(last.event, "failed");
    assert.equal(JSON.parse(last.data).error.code, "not_found");

    // An operation this node never had: the stream says so with an `error` event and ends.
    const unknown = await finished(client, `op-${"0".repeat(32)}`);
    assert.equal(unknown.event, "error");

    // Refused before any stream: the envelope's error.
    const refused = await rejection(
      (async () => {
        for await (const _ of client.operationEvents(TEST_NODE_ID, "op-not-an-id")) {
          assert.fail("no event expected");
        }
      })(),
    );
    assert.equal(refused.status, 400);
    assert.equal(refused.errorCode, -25);
  } finally {
    await api.close();
  }
});

Deno.test("no answer, no server and a proxy's page are told apart", async () => {
  let release!: () => void;
  const hung = new Promise<void>((resolve) => release = resolve);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (
    request,
  ) => {
    const path = new URL(request.url).pathname;
    if (path.endsWith("/hang")) await hung;
    if (path.endsWith("/proxy")) {
      return new Response("<html>502 Bad Gateway</html>", {
        status: 502,
        headers: { "content-type": "text/html" },
      });
    }
    return Response.json({ error_code: 0, error_message: "", data: { path } });
  });
  try {
    const base = `http://127.0.0.1:${server.addr.port}/prefix/`;
    const client = new ApiClient({ baseUrl: base, timeoutMs: 300 });
    // A base URL's path is kept in front of the API's paths.
    assert.deepEqual(await client.request("GET", "/api/v1/echo"), { path: "/prefix/api/v1/echo" });

    const slow = await rejection(client.request("GET", "/api/v1/hang"));
    assert.equal(slow.kind, "timeout");
    assert.equal(slow.status, 0);
    assert.equal(slow.errorCode, -32700);

    const proxy = await rejection(client.request("GET", "/api/v1/proxy"));
    assert.equal(proxy.kind, "malformed_response");
    assert.equal(proxy.status, 502);
    assert.match(proxy.message, /Bad Gateway/);

    const gone = new ApiClient({ baseUrl: `http://127.0.0.1:${freePort()}` });
    const unreachable = await rejection(gone.node());
    assert.equal(unreachable.kind, "unreachable");
    assert.equal(unreachable.status, 0);
    assert.match(unreachable.message, /cannot reach/);
  } finally {
    release();
    await server.shutdown();
  }
});

Deno.test("walletSigner signs as extensions do, naming its scheme, and the node accepts it", async () => {
  const { alice, bobEd } = await devWallets();
  const message = new TextEncoder().encode("dbc-request-v1\nGET\n/api/v1/tasks\n...");
  for (const [pair, scheme] of [[alice, "sr25519"], [bobEd, "ed25519"]] as const) {
    const signature = await walletSigner(pair).sign(message);
    assert.equal(signature.length, 65);
    const hex = [...signature].map((byte) => byte.toString(16).padStart(2, "0")).join("");
    const parsed = parseWalletSignature(hex)!;
    assert.equal(parsed.scheme, scheme);
    const check = await verifyWalletSignature(pair.publicKey, message, parsed);
    assert.deepEqual(check, { ok: true, scheme, wrapped: true });
  }
  const api = startTestApi();
  try {
    const client = new ApiClient({ baseUrl: api.url, signer: walletSigner(alice) });
    const machine = await client.registerMachine({
      machine_id: "m-wallet-signer",
      node_proof: TEST_NODE_PROOF,
      config: CONFIG,
      prices: { hour: "1000" },
    });
    assert.equal(machine.owner, alice.address);
  } finally {
    await api.close();
  }
});
