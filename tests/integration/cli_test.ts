/**
 * The renter CLI as renters run it: `deno task cli ...` in a real subprocess
 * (with only its own permissions), wallets from the environment made by
 * polkadot-js, against a real HTTP server running the node's app and its real
 * wallet authorisation (`tests/fixtures/api_server.ts`).
 */
import assert from "node:assert/strict";
import { Keyring } from "@polkadot/keyring";
import { cryptoWaitReady, mnemonicGenerate } from "@polkadot/util-crypto";
import { ApiClient } from "../../http/mod.ts";
import {
  ABSENT_NODE_ID,
  BROKEN_IMAGE,
  startTestApi,
  TEST_MARKET_NODE,
  TEST_NODE_ID,
  TEST_NODE_PROOF,
  TEST_NODE_STATUS,
  type TestApi,
} from "../fixtures/api_server.ts";
import { ED25519_KEY } from "../fixtures/ssh_keys.ts";
import { devWallets } from "../wallets.ts";
import { runCli } from "../scripts/cli_fixture.ts";

const ALICE = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";

function aliceAt(api: TestApi): Record<string, string> {
  return { DBC_API: api.url, DBC_WALLET_URI: "//Alice" };
}

Deno.test("whoami prints the wallet's address: //Alice, and an ed25519 wallet from a mnemonic", async () => {
  const alice = await runCli(["whoami"], { DBC_WALLET_URI: "//Alice" });
  assert.equal(alice.code, 0, alice.stderr);
  assert.equal(alice.stdout, `${ALICE}\n`);

  await cryptoWaitReady();
  const mnemonic = mnemonicGenerate(12);
  const expected = new Keyring({ type: "ed25519", ss58Format: 42 }).addFromUri(mnemonic).address;
  const ed = await runCli(["--json", "whoami"], {
    DBC_WALLET_MNEMONIC: mnemonic,
    DBC_WALLET_TYPE: "ed25519",
  });
  assert.equal(ed.code, 0, ed.stderr);
  assert.deepEqual(JSON.parse(ed.stdout), { address: expected, type: "ed25519" });

  const none = await runCli(["whoami"]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /needs a wallet: set DBC_WALLET_URI/);
  const bad = await runCli(["whoami"], { DBC_WALLET_MNEMONIC: "not a real mnemonic at all" });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /DBC_WALLET_MNEMONIC: not a valid BIP-39 mnemonic/);
  assert.doesNotMatch(bad.stderr, /real mnemonic/, "the secret is not echoed");
});

Deno.test("node and machines print the node's answers, as tables or complete JSON", async () => {
  const api = startTestApi();
  try {
    const json = await runCli(["--json", "node"], { DBC_API: api.url });
    assert.equal(json.code, 0, json.stderr);
    const info = JSON.parse(json.stdout);
    assert.equal(info.node_id, TEST_NODE_STATUS.node_id);
    assert.equal(info.role, "seed");
    assert.deepEqual(info.workers, TEST_NODE_STATUS.workers);
    assert.equal(info.gpu_status.state, "none");

    const human = await runCli(["node", "--api", api.url]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, new RegExp(`^node_id +${TEST_NODE_ID}$`, "m"));
    assert.match(human.stdout, /^workers +network=running node_service=running http=running$/m);

    const machines = await runCli(["machines"], { DBC_API: api.url });
    assert.equal(machines.code, 0, machines.stderr);
    const [header, row] = machines.stdout.trimEnd().split("\n");
    assert.match(header!, /^NODE_ID +GPUS +CPU +MEMORY +DISK +STATE +PRICE$/);
    assert.match(
      row!,
      new RegExp(
        `^${TEST_NODE_ID} +2x NVIDIA H100 80GB HBM3 \\(80 GiB\\) +64x AMD EPYC 9554 +512 GiB +` +
          `4000 GiB \\(3500 free\\) +online +1000/hour$`,
      ),
    );
    const machinesJson = await runCli(["--json", "machines"], { DBC_API: api.url });
    assert.deepEqual(JSON.parse(machinesJson.stdout), { nodes: [TEST_MARKET_NODE] });

    const missing = await runCli(["machine", ABSENT_NODE_ID], { DBC_API: api.url });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^error -32004 \(HTTP 404\): no GPU node/);
  } finally {
    await api.close();
  }
});

Deno.test("renting is signed by the wallet; a signature the node refuses gives exit 1 and the error line", async () => {
  const { alice } = await devWallets();
  const api = startTestApi();
  // The same server with its clock an hour ahead: every signed request is stale to it.
  const skewed = startTestApi({ clockSkewMs: 3_600_000 });
  try {
    const registered = await new ApiClient({ baseUrl: api.url, signer: alice }).registerMachine({
      machine_id: "m-cli",
      node_proof: TEST_NODE_PROOF,
      config: {
        gpu_model: "NVIDIA H100 80GB HBM3",
        gpu_count: 2,
        cpu_model: "AMD EPYC 9554",
        cpu_cores: 64,
        memory_gib: 512,
        disk_gib: 4000,
      },
      prices: { hour: "1000" },
    });
    assert.equal(registered.owner, alice.address);

    const rent = await runCli(
      ["--json", "rent", "m-cli", "--period", "2", "--unit", "hour"],
      aliceAt(api),
    );
    assert.equal(rent.code, 0, rent.stderr);
    const rental = JSON.parse(rent.stdout);
    assert.equal(rental.renter, ALICE);
    assert.equal(rental.payments[0].count, 2);
    const call = api.calls.find((item) => item.method === "ledger.rent")!;
    assert.equal((call.params.signed_by as { account: string }).account, ALICE);

    const shown = await runCli(["rental", String(rental.rental_id)], aliceAt(api));
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /^renter +5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY$/m);
    assert.match(shown.stdout, /^ends_at +\d{4}-\d\d-\d\dT/m);

    const listed = await runCli(["ledger", "machines", "--state", "online"], aliceAt(api));
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^m-cli +online +2x NVIDIA H100 80GB HBM3 +64x AMD EPYC 9554 /m);

    const refused = await runCli(
      ["rent", "m-cli", "--period", "2", "--unit", "hour"],
      aliceAt(skewed),
    );
    assert.equal(refused.code, 1);
    assert.equal(refused.stdout, "");
    assert.match(refused.stderr, /^error -32001 \(HTTP 401\): stale_timestamp: /);
    assert.equal(skewed.calls.filter((item) => item.method === "ledger.rent").length, 0);

    const missing = await runCli(["rental", "99"], aliceAt(api));
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^error -32004 \(HTTP 404\): no rental 99/);

    const badUnit = await runCli(
      ["rent", "m-cli", "--period", "2", "--unit", "week"],
      aliceAt(api),
    );
    assert.equal(badUnit.code, 2);
    assert.match(badUnit.stderr, /--unit: expected one of second, hour, day/);
  } finally {
    await api.close();
    await skewed.close();
  }
});

Deno.test("a renter's VM and container through the CLI: create, watch, list, stop, logs", async () => {
  const api = startTestApi({ createDelayMs: 2_000 });
  try {
    const env = aliceAt(api);
    const create = await runCli([
      "--json",
      "vm",
      "create",
      "--node",
      TEST_NODE_ID,
      "--image",
      "ubuntu-22.04.qcow2",
      "--gpus",
      "1",
      "--cpus",
      "2",
      "--memory-gib",
      "4",
      "--ssh-key",
      ED25519_KEY,
      "--password",
      "Correct Horse 9",
    ], env);
    assert.equal(create.code, 0, create.stderr);
    const accepted = JSON.parse(create.stdout);
    assert.equal(accepted.state, "creating");
    const vm: string = accepted.task_id;

    const watch = await runCli(["watch", accepted.operation_id, "--node", TEST_NODE_ID], env);
    assert.equal(watch.code, 0, watch.stderr);
    const lines = watch.stdout.trimEnd().split("\n");
    // Depending on how soon the CLI connected, it saw the create running before it was done.
    for (const line of lines.slice(0, -1)) {
      assert.equal(line, `running vm.create ${vm}: vm.create ${vm} started`);
    }
    assert.equal(lines.at(-1), `done vm.create ${vm}: vm.create ${vm} finished`);
    const created = api.calls.find((item) => item.method === "vm.create")!.params;
    assert.equal(created.owner, ALICE);
    assert.equal(created.memory_mib, 4096);
    assert.deepEqual(created.gpus, { count: 1 });
    assert.deepEqual(created.ssh_keys, [ED25519_KEY]);

    const list = await runCli(["vm", "list", "--node", TEST_NODE_ID], env);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^ID +STATE +IMAGE +CPUS +MEMORY_MIB +GPUS +LOGIN$/m);
    assert.match(
      list.stdout,
      new RegExp(`^${vm} +running +ubuntu-22.04.qcow2 +2 +4096 +1 +ssh://127.0.0.1:30001$`, "m"),
    );

    const stop = await runCli(["vm", "stop", vm, "--node", TEST_NODE_ID, "--force"], env);
    assert.equal(stop.code, 0, stop.stderr);
    assert.match(stop.stdout, /^state +stopped$/m);
    const stopCall = api.calls.findLast((call) => call.method === "vm.stop");
    assert.equal(stopCall?.params.force, true, "--force powers off at once");
    const startForced = await runCli(["vm", "start", vm, "--node", TEST_NODE_ID, "--force"], env);
    assert.equal(startForced.code, 2, "only stop takes --force");

    const logs = await runCli(["vm", "logs", vm, "--node", TEST_NODE_ID, "--tail", "5"], env);
    assert.equal(logs.code, 0, logs.stderr);
    assert.equal(logs.stdout, "tail 0\ntail 1\ntail 2\n");

    const container = await runCli([
      "container",
      "create",
      "--node",
      TEST_NODE_ID,
      "--image",
      "alpine:3.20",
      "--cmd",
      "sh -c 'sleep 3600'",
      "--ssh",
    ], env);
    assert.equal(container.code, 0, container.stderr);
    assert.match(container.stdout, /^task_id +ct-[0-9a-f]+$/m);

    const node = encodeURIComponent(TEST_NODE_ID);
    const sent = api.requests.filter((request) => !request.pathAndQuery.includes("/operations/"))
      .map((request) => [`${request.method} ${request.pathAndQuery}`, request.body]);
    assert.deepEqual(sent, [
      ["POST /api/v1/tasks/start", {
        peer_nodes_list: [TEST_NODE_ID],
        image_name: "ubuntu-22.04.qcow2",
        gpu_count: 1,
        cpu_cores: 2,
        mem_size: 4,
        ssh_key: ED25519_KEY,
        password: "Correct Horse 9",
      }],
      [`GET /api/v1/tasks?node_id=${node}`, undefined],
      [`POST /api/v1/tasks/${vm}/stop`, { peer_nodes_list: [TEST_NODE_ID], force: true }],
      [`GET /api/v1/tasks/${vm}/trace?node_id=${node}&flag=tail&line_num=5`, undefined],
      ["POST /api/v1/containers/create", {
        peer_nodes_list: [TEST_NODE_ID],
        image: "alpine:3.20",
        command: ["sh", "-c", "sleep 3600"],
        gpu_count: 0,
        ssh: true,
      }],
    ]);

    const usage = await runCli(["vm", "create", "--image", "x"], env);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /^usage error: --node is required/);
    assert.match(usage.stderr, /usage: deno task cli vm create --node <node> --image <image>/);

    const absent = await runCli(["vm", "list", "--node", ABSENT_NODE_ID], env);
    assert.equal(absent.code, 1);
    assert.match(absent.stderr, /^error -32602 \(HTTP 503\): node \S+ cannot be reached/);
  } finally {
    await api.close();
  }
});

Deno.test("a VM's modify and snapshots through the CLI", async () => {
  const api = startTestApi();
  try {
    const env = aliceAt(api);
    const vm = "vm-cli-snapshots";
    api.vms.set(vm, {
      id: vm,
      kind: "vm",
      owner: ALICE,
      state: "stopped",
      gpus: [],
      created_at: 1_700_000_000_000,
      updated_at: 1_700_000_000_000,
      last_error: null,
      domain: `dbc-${vm}`,
      os: "linux",
      image: "ubuntu-22.04.qcow2",
      cpu_cores: 2,
      memory_mib: 4096,
      disk_gib: 10,
      firmware: "bios",
      gpu_devices: [],
      network: { mode: "user", source: null },
      login: { protocol: "ssh", host: "127.0.0.1", port: 30_001 },
      vnc: { listen: "127.0.0.1", port: null, password: "vnc-secret" },
    });
    const node = ["--node", TEST_NODE_ID];

    const modify = await runCli(
      ["vm", "modify", vm, ...node, "--cpus", "4", "--disk-gib", "40"],
      env,
    );
    assert.equal(modify.code, 0, modify.stderr);
    assert.match(modify.stdout, /^cpu_cores +4$/m);
    assert.match(modify.stdout, /^disk_gib +40$/m);

    const take = await runCli(
      ["vm", "snapshot", "create", vm, "clean", ...node, "--description", "fresh install"],
      env,
    );
    assert.equal(take.code, 0, take.stderr);
    assert.match(take.stdout, /^name +clean$/m);

    const list = await runCli(["vm", "snapshot", "list", vm, ...node], env);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^NAME +CREATED_AT +DISK_GIB +DESCRIPTION$/m);
    assert.match(list.stdout, /^clean +2023-11-14T22:13:20.000Z +10 +fresh install$/m);

    const restore = await runCli(["vm", "snapshot", "restore", vm, "clean", ...node], env);
    assert.equal(restore.code, 0, restore.stderr);

    const nothing = await runCli(["vm", "modify", vm, ...node], env);
    assert.equal(nothing.code, 2);
    assert.match(nothing.stderr, /give at least one of --cpus/);

    const sent = api.requests.map((request) => [
      `${request.method} ${request.pathAndQuery}`,
      request.body,
    ]);
    assert.deepEqual(sent, [
      [`POST /api/v1/tasks/${vm}/modify`, {
        peer_nodes_list: [TEST_NODE_ID],
        cpu_cores: 4,
        disk_size: 40,
      }],
      [`POST /api/v1/snapshot/${vm}/create`, {
        peer_nodes_list: [TEST_NODE_ID],
        name: "clean",
        description: "fresh install",
      }],
      [`GET /api/v1/snapshot/${vm}?node_id=${encodeURIComponent(TEST_NODE_ID)}`, undefined],
      [`POST /api/v1/snapshot/${vm}/clean/restore`, { peer_nodes_list: [TEST_NODE_ID] }],
    ]);
  } finally {
    await api.close();
  }
});

Deno.test("watch ends with exit 1 when the operation failed or cannot be followed", async () => {
  const { alice } = await devWallets();
  const api = startTestApi();
  try {
    const env = aliceAt(api);
    const broken = await new ApiClient({ baseUrl: api.url, signer: alice }).createVm(
      TEST_NODE_ID,
      { image_name: BROKEN_IMAGE, cpu_cores: 1, mem_size: 1 },
    );
    const failed = await runCli(
      ["--json", "watch", broken.operation_id, "--node", TEST_NODE_ID],
      env,
    );
    assert.equal(failed.code, 1);
    const events = failed.stdout.trimEnd().split("\n").map((line) => JSON.parse(line));
    const last = events.at(-1);
    assert.equal(last.event, "failed");
    assert.equal(last.data.operation_id, broken.operation_id);
    assert.equal(last.data.error.code, "not_found");

    const status = await runCli(
      ["--json", "operation", broken.operation_id, "--node", TEST_NODE_ID],
      env,
    );
    assert.equal(status.code, 0, status.stderr);
    assert.equal(JSON.parse(status.stdout).state, "failed");

    const unknown = await runCli(["watch", `op-${"0".repeat(32)}`, "--node", TEST_NODE_ID], env);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stdout, /^error no operation op-0+$/m);
    assert.match(unknown.stderr, /^error: the node cannot follow this operation/);
  } finally {
    await api.close();
  }
});

Deno.test("a session made with the wallet operates VMs through the CLI without it, until revoked", async () => {
  const api = startTestApi();
  try {
    const made = await runCli([
      "session",
      "create",
      "--node",
      TEST_NODE_ID,
      "--label",
      "ci runner",
      "--json",
    ], aliceAt(api));
    assert.equal(made.code, 0, made.stderr);
    const session = JSON.parse(made.stdout);
    assert.match(session.session_id, /^ses_/);
    const holder = { DBC_API: api.url, DBC_SESSION: session.session_id };

    // The holder lists Alice's VMs with the session alone.
    const listed = await runCli(["vm", "list", "--node", TEST_NODE_ID, "--json"], holder);
    assert.equal(listed.code, 0, listed.stderr);
    const listRequest = api.requests.findLast((request) =>
      request.pathAndQuery.startsWith("/api/v1/tasks")
    );
    assert.ok(listRequest);
    // Renting and making sessions need the wallet itself; and not both at once.
    const rent = await runCli(["rent", TEST_NODE_ID, "--unit", "hour", "--period", "1"], holder);
    assert.equal(rent.code, 2);
    assert.match(rent.stderr, /needs a wallet \(a session cannot do this\)/);
    const both = await runCli(["vm", "list", "--node", TEST_NODE_ID], {
      ...aliceAt(api),
      DBC_SESSION: session.session_id,
    });
    assert.equal(both.code, 2);
    assert.match(both.stderr, /not both/);

    const sessions = await runCli(["session", "list", "--node", TEST_NODE_ID], aliceAt(api));
    assert.match(sessions.stdout, new RegExp(`${session.prefix}  until .*  ci runner`));
    const revoked = await runCli(
      ["session", "revoke", session.prefix, "--node", TEST_NODE_ID],
      aliceAt(api),
    );
    assert.equal(revoked.code, 0, revoked.stderr);
    const after = await runCli(["vm", "list", "--node", TEST_NODE_ID], holder);
    assert.equal(after.code, 1);
    assert.match(after.stderr, /no live session/);
  } finally {
    await api.close();
  }
});
