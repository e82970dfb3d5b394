/**
 * The node as operators run it: `deno task node` in a real subprocess, a
 * stand-in nvidia-smi on PATH replaying recorded output, real HTTP, real
 * signals, real files.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { DENO_BIN, freePort, REPO_ROOT, scratchDir, waitFor, writeScript } from "../helpers.ts";
import { testPrefix } from "../node_service/vm/libvirt_fixture.ts";

const RECORDED_GPUS = `${REPO_ROOT}/tests/fixtures/nvidia-smi/two_h100.csv`;

type NodeProcess = {
  child: Deno.ChildProcess;
  httpPort: number;
  /** Everything the process wrote to stderr (its log), once it has exited. */
  log: Promise<string>;
};

function startNode(args: string[], env: Record<string, string> = {}): NodeProcess {
  const httpPort = freePort();
  const child = new Deno.Command(DENO_BIN, {
    args: [
      "task",
      "-q",
      "node",
      "--http-port",
      String(httpPort),
      "--p2p-host",
      "127.0.0.1",
      "--p2p-port",
      String(freePort()),
      // Its own libvirt domains only: what other tests (or an earlier run) left is not its business.
      "--vm-domain-prefix",
      testPrefix(),
      ...args,
    ],
    cwd: REPO_ROOT,
    env,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  void child.stdout.pipeTo(new WritableStream());
  const log = new Response(child.stderr).text();
  return { child, httpPort, log };
}

async function nodeInfo(port: number) {
  const response = await fetch(`http://127.0.0.1:${port}/api/v1/node`);
  const body = await response.json();
  return response.status === 200 && body.data.workers.node_service.state === "running"
    ? body
    : undefined;
}

async function stubNvidiaSmi(dir: string): Promise<string> {
  const bin = `${dir}/bin`;
  await Deno.mkdir(bin, { recursive: true });
  // Replays the recording only for the query the node is expected to make.
  await writeScript(
    `${bin}/nvidia-smi`,
    `case "$*" in *--query-gpu=index,uuid,name,pci.bus_id,*--format=csv,noheader,nounits*) cat '${RECORDED_GPUS}';; *) echo "unexpected arguments: $*" >&2; exit 2;; esac`,
  );
  return `${bin}:${Deno.env.get("PATH")}`;
}

Deno.test("a node subprocess answers GET /api/v1/node with its GPUs, and SIGTERM stops it cleanly", async () => {
  const dir = await scratchDir("node-process");
  try {
    const node = startNode(["--data-dir", `${dir}/data`, "--log-format", "json"], {
      PATH: await stubNvidiaSmi(dir),
    });
    const info = await waitFor("GET /api/v1/node", () => nodeInfo(node.httpPort), 60_000);
    assert.equal(info.error_code, 0);
    assert.match(info.data.node_id, /^12D3KooW/);
    assert.equal(info.data.role, "gpu");
    assert.equal(
      info.data.version,
      JSON.parse(await Deno.readTextFile(`${REPO_ROOT}/package.json`)).version,
    );
    assert.deepEqual(Object.keys(info.data.workers).sort(), ["http", "network", "node_service"]);
    assert.deepEqual(info.data.gpus.map((gpu: { pci_bus_id: string }) => gpu.pci_bus_id), [
      "00000000:18:00.0",
      "00000000:2A:00.0",
    ]);
    assert.equal(info.data.gpus[1].memory_total_mib, 81559);
    assert.deepEqual(info.data.gpu_status, { state: "present", count: 2 });
    assert.equal((await Deno.stat(`${dir}/data/node.key`)).mode! & 0o777, 0o600);

    // The operator's view: the token file the node made, over the real socket.
    const tokenFile = `${dir}/data/operator.token`;
    assert.equal((await Deno.stat(tokenFile)).mode! & 0o777, 0o600);
    const token = (await Deno.readTextFile(tokenFile)).trim();
    const operator = (path: string, headers: HeadersInit = { authorization: `Bearer ${token}` }) =>
      fetch(`http://127.0.0.1:${node.httpPort}/api/v1/operator/${path}`, { headers })
        .then(async (response) => ({ status: response.status, body: await response.json() }));
    const events = await operator("events?action=node_service.");
    assert.equal(events.status, 200, JSON.stringify(events.body));
    assert.deepEqual(
      events.body.data.events.map((event: { action: string }) => event.action),
      ["node_service.start"],
    );
    assert.equal((await operator("events", {})).status, 401);
    assert.equal((await operator("events", { authorization: "Bearer wrong" })).status, 401);
    const status = await operator("status");
    assert.equal(status.body.data.node.node_id, info.data.node_id);

    node.child.kill("SIGTERM");
    const { code } = await node.child.status;
    const log = await node.log;
    assert.equal(code, 0, log);
    const records = log.trim().split("\n").map((line) => JSON.parse(line));
    assert.ok(
      records.every((record) =>
        typeof record.ts === "string" && typeof record.level === "string" &&
        typeof record.msg === "string"
      ),
    );
    assert.ok(
      records.some((record) => record.msg === "shutting down" && record.signal === "SIGTERM"),
    );
    assert.equal(records.at(-1).msg, "stopped");

    // The database was closed: SQLite folds the write-ahead log back in when its last connection closes.
    await assert.rejects(Deno.stat(`${dir}/data/node_service/node.db-wal`), Deno.errors.NotFound);
    const db = new DatabaseSync(`${dir}/data/node_service/node.db`);
    const actions = db.prepare("SELECT action FROM events ORDER BY id").all().map((row) =>
      row.action
    );
    db.close();
    assert.deepEqual(actions, ["node_service.start", "node_service.stop"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a restarted node keeps its identity, and SIGINT stops it cleanly too", async () => {
  const dir = await scratchDir("node-restart");
  try {
    const ids: string[] = [];
    const tokens: string[] = [];
    for (let round = 0; round < 2; round++) {
      const node = startNode(["--data-dir", `${dir}/data`]);
      ids.push((await waitFor("node info", () => nodeInfo(node.httpPort), 60_000)).data.node_id);
      tokens.push(await Deno.readTextFile(`${dir}/data/operator.token`));
      node.child.kill("SIGINT");
      assert.equal((await node.child.status).code, 0, await node.log);
    }
    assert.equal(ids[0], ids[1]);
    // Operators' scripts keep working across restarts.
    assert.equal(tokens[0], tokens[1]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("nodes run side by side with their own directories and ports; a shared data directory is refused", async () => {
  const dir = await scratchDir("side-by-side");
  const first = startNode(["--data-dir", `${dir}/one`]);
  const second = startNode(["--data-dir", `${dir}/two`]);
  try {
    const [one, two] = await Promise.all([
      waitFor("first node", () => nodeInfo(first.httpPort), 60_000),
      waitFor("second node", () => nodeInfo(second.httpPort), 60_000),
    ]);
    assert.notEqual(one.data.node_id, two.data.node_id);

    const intruder = startNode(["--data-dir", `${dir}/one`]);
    const { code } = await intruder.child.status;
    assert.equal(code, 2);
    assert.match(await intruder.log, /data directory is in use by another node/);
    assert.ok(await nodeInfo(first.httpPort), "the first node is unharmed");
  } finally {
    for (const node of [first, second]) {
      node.child.kill("SIGTERM");
      await node.child.status;
      await node.log;
    }
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bad configuration stops the node at once with the field's name and source", async () => {
  const dir = await scratchDir("bad-config");
  try {
    const cases: Array<[string[], Record<string, string>, RegExp]> = [
      [["--http-port", "eighty"], {}, /http_port \(from flag --http-port\): expected an integer/],
      [
        [],
        { DBC_ROLE: "miner" },
        /role \(from environment variable DBC_ROLE\): expected one of gpu, seed, client/,
      ],
      [["--seeds", "nowhere"], {}, /seeds \(from flag --seeds\): \[0\] expected host:port/],
      // Refused by the launcher: Deno's permission flags separate paths with ','.
      [
        ["--data-dir", `${dir}/a,b`],
        {},
        /data_dir \(from flag --data-dir\): ".*\/a,b" contains a ','/,
      ],
    ];
    for (const [args, env, expected] of cases) {
      const node = startNode(["--data-dir", `${dir}/data`, ...args], env);
      const { code } = await node.child.status;
      const log = await node.log;
      assert.equal(code, 2, log);
      assert.match(log, expected);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** The process ids below `pid`, deepest first. */
function descendants(pid: number): number[] {
  let children: number[] = [];
  try {
    children = Deno.readTextFileSync(`/proc/${pid}/task/${pid}/children`).trim().split(/\s+/)
      .filter(Boolean).map(Number);
  } catch {
    return [];
  }
  return children.flatMap((child) => [...descendants(child), child]);
}

/** The argv of the node process under `deno task` (the one running main.ts). */
function nodeArgv(taskPid: number): string[] {
  for (const pid of descendants(taskPid)) {
    const argv = Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0").filter(Boolean);
    if (argv.includes(`${REPO_ROOT}/main.ts`)) return argv;
  }
  throw new Error(`no main.ts process below ${taskPid}`);
}

Deno.test("main.ts run by hand says which grant a data directory lacks; deno task node grants one anywhere, and only it", async () => {
  // By hand, with grants that leave the data directory out: the node names the flags to add.
  const byHand = await new Deno.Command(DENO_BIN, {
    args: [
      "run",
      "--unstable-worker-options",
      `--allow-read=${REPO_ROOT}`,
      `--allow-write=${REPO_ROOT}`,
      "--allow-env=DBC_*,PATH,_ISEXE_TEST_PLATFORM_,NODE_V8_COVERAGE",
      "--allow-net",
      `${REPO_ROOT}/main.ts`,
      "--data-dir",
      "/opt/elsewhere",
      "--http-port",
      String(freePort()),
    ],
    cwd: REPO_ROOT,
    clearEnv: true,
    stdout: "null",
    stderr: "piped",
  }).output();
  const refusal = new TextDecoder().decode(byHand.stderr);
  assert.equal(byHand.code, 2, refusal);
  assert.match(
    refusal,
    /data_dir \/opt\/elsewhere is outside this process's --allow-read; start the node with deno task node \(it grants exactly what the configuration names\), or add --allow-read=\/opt\/elsewhere --allow-write=\/opt\/elsewhere/,
  );

  // Through the launcher: a data directory outside the checkout, below a directory only we may enter.
  const outsideDir = await Deno.makeTempDir({ prefix: "dbc-node-anywhere-" });
  assert.ok(!outsideDir.startsWith(`${REPO_ROOT}/`));
  assert.equal((await Deno.stat(outsideDir)).mode! & 0o777, 0o700);
  const dataDir = `${outsideDir}/data`;
  const secret = `${outsideDir}/not-the-node's.img`;
  await Deno.writeTextFile(secret, "outside every grant of the node");
  const node = startNode(["--data-dir", dataDir]);
  try {
    const info = await waitFor("GET /api/v1/node", () => nodeInfo(node.httpPort), 60_000);
    assert.match(info.data.node_id, /^12D3KooW/);
    assert.equal((await Deno.stat(`${dataDir}/node.key`)).mode! & 0o777, 0o600);

    // The node process holds the data directory, and nothing else outside the checkout's reach.
    const argv = nodeArgv(node.child.pid);
    const grant = (kind: string) => {
      const flag = argv.find((arg) =>
        arg === `--allow-${kind}` || arg.startsWith(`--allow-${kind}=`)
      );
      assert.ok(flag, `no --allow-${kind} in ${argv.join(" ")}`);
      assert.notEqual(flag, `--allow-${kind}`, `--allow-${kind} unscoped`);
      return flag.slice(`--allow-${kind}=`.length).split(",");
    };
    assert.ok(!argv.some((arg) => arg === "-A" || arg === "--allow-all"), argv.join(" "));
    const covers = (grants: string[], path: string) =>
      grants.some((entry) => path === entry || path.startsWith(`${entry}/`));
    for (const kind of ["read", "write"]) {
      assert.ok(covers(grant(kind), dataDir), `${kind} ${dataDir}`);
      assert.ok(!covers(grant(kind), secret), `${kind} ${secret}`);
      assert.ok(!covers(grant(kind), "/etc/passwd"), `${kind} /etc/passwd`);
    }
    assert.ok(!covers(grant("write"), `${REPO_ROOT}/main.ts`), "the code is not writable");
    for (const kind of ["env", "run", "sys"]) grant(kind);

    // And it really is refused: the node service may not read a file beside the data directory.
    const token = (await Deno.readTextFile(`${dataDir}/operator.token`)).trim();
    const operator = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(`http://127.0.0.1:${node.httpPort}/api/v1/operator/${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return await response.json();
    };
    const added = await operator("POST", "images/vm", { name: "outside.img", path: secret });
    assert.equal(added.error_code, 0, JSON.stringify(added));
    const failed = await waitFor("the refused image", async () => {
      const images = (await operator("GET", "images")).data.vm as Array<
        { name: string; state: string; error?: string }
      >;
      const image = images.find((candidate) => candidate.name === "outside.img");
      return image?.state === "failed" ? image : undefined;
    });
    assert.match(failed.error!, /may not read/);

    node.child.kill("SIGTERM");
    assert.equal((await node.child.status).code, 0, await node.log);
  } finally {
    try {
      // To the task runner, which passes it on to the node.
      node.child.kill("SIGTERM");
    } catch {
      // Stopped already.
    }
    await node.child.status;
    await node.log;
    await Deno.remove(outsideDir, { recursive: true });
  }
});
