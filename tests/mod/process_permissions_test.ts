/**
 * The node process's grants (`nodeProcessPermissions`, what `deno task node`
 * starts it with): exactly the directories the configuration names, wherever
 * they are, and never less than a worker needs (a worker cannot be given more
 * than the process holds).
 */
import assert from "node:assert/strict";
import {
  ConfigError,
  LAN_PROGRAMS,
  loadConfig,
  MONITOR_SYS,
  nodePaths,
  nodeProcessPermissions,
  permissionFlags,
  type ProcessPermissionInputs,
  QEMU_CONF_FILE,
  SERVICE_ENV,
  SERVICE_PROGRAMS,
  SERVICE_SYS,
  WORKER_NAMES,
  workerPermissions,
} from "../../mod/mod.ts";
import { nodeGrants } from "../../scripts/node_grants.ts";

const ROOT = "/home/op/dbc-node";
const PROGRAMS = ["/usr/bin/virsh", "/usr/bin/qemu-img", "/usr/sbin/ss"];

function inputs(
  args: string[],
  extra: Partial<ProcessPermissionInputs> & { env?: Record<string, string> } = {},
): ProcessPermissionInputs {
  const { config, sources } = loadConfig({ args, env: extra.env ?? {}, cwd: "/home/op" });
  return {
    config,
    paths: nodePaths(config.data_dir),
    programPaths: PROGRAMS,
    projectRoot: ROOT,
    sources,
    ...extra,
  };
}

const covers = (granted: readonly string[], path: string) =>
  granted.some((grant) => path === grant || path.startsWith(`${grant}/`));

/** Every path a worker is given lies within the process's grant of the same kind. */
function assertWorkersFit(input: ProcessPermissionInputs): void {
  const process = nodeProcessPermissions(input);
  for (const name of WORKER_NAMES) {
    const worker = workerPermissions(name, input);
    for (const kind of ["read", "write"] as const) {
      for (const path of worker[kind] || []) {
        assert.ok(covers(process[kind], path), `${name} ${kind} ${path} not in ${process[kind]}`);
      }
    }
    if (worker.net !== false) assert.equal(process.net, true);
    for (const program of worker.run || []) assert.ok(process.run.includes(program), program);
    for (const name of worker.env || []) assert.ok(process.env.includes(name), name);
    for (const sys of worker.sys || []) assert.ok(process.sys.includes(sys), sys);
  }
}

Deno.test("a data directory anywhere is granted, and nothing above it", () => {
  const input = inputs(["--data-dir", "/srv/disk7/dbc"]);
  const permissions = nodeProcessPermissions(input);
  assert.deepEqual(permissions.read, [
    ROOT,
    "/etc/dbc",
    "/srv/disk7/dbc",
    ...PROGRAMS,
    "/var/run/docker.sock",
    QEMU_CONF_FILE,
  ]);
  assert.deepEqual(permissions.write, ["/srv/disk7/dbc", "/var/run/docker.sock"]);
  assert.equal(permissions.net, true);
  assert.deepEqual(permissions.env, ["DBC_*", ...SERVICE_ENV]);
  // Deno itself only where images may be downloaded (node_service/vm/images/download_process.ts)
  // or renters' monitoring data pushed (node_service/monitor/push_process.ts, on by default on a
  // GPU node), and the load average only for the latter. `ip` and `bridge` only on a GPU node
  // (renters' private networks, node_service/lan/).
  assert.deepEqual(permissions.run, [...SERVICE_PROGRAMS, ...LAN_PROGRAMS, Deno.execPath()]);
  assert.deepEqual(permissions.sys, [...SERVICE_SYS, ...MONITOR_SYS]);
  const quiet = nodeProcessPermissions(inputs(["--monitor-interval-s", "0"]));
  assert.deepEqual(quiet.run, [...SERVICE_PROGRAMS, ...LAN_PROGRAMS]);
  assert.deepEqual(quiet.sys, [...SERVICE_SYS]);
  assert.deepEqual(nodeProcessPermissions(inputs(["--role", "seed"])).run, [...SERVICE_PROGRAMS]);
  assert.deepEqual(
    nodeProcessPermissions(inputs(["--monitor-interval-s", "0", "--image-download-hosts", "a.b"]))
      .run,
    [...SERVICE_PROGRAMS, ...LAN_PROGRAMS, Deno.execPath()],
  );
  // Or where the operator names image servers (node_service/image_servers/request_process.ts).
  assert.deepEqual(
    nodeProcessPermissions(
      inputs(["--monitor-interval-s", "0", "--image-servers", "lan=http://10.0.0.5:8080/images/"]),
    ).run,
    [...SERVICE_PROGRAMS, ...LAN_PROGRAMS, Deno.execPath()],
  );
  assert.ok(!covers(permissions.read, "/srv/disk7/other"));
  assert.ok(!covers(permissions.write, ROOT), "the code is read-only");
  assertWorkersFit(input);
});

Deno.test("a relative data directory resolves against the working directory, as main.ts does", () => {
  const permissions = nodeProcessPermissions(inputs(["--data-dir", "../data-2"]));
  assert.deepEqual(permissions.write, ["/home/data-2", "/var/run/docker.sock"]);
  const defaults = nodeProcessPermissions(inputs([]));
  assert.deepEqual(defaults.write, ["/home/op/data", "/var/run/docker.sock"]);
});

Deno.test("VM and image directories outside the data directory are granted read and write", () => {
  const input = inputs([
    "--data-dir",
    "/var/lib/dbc",
    "--vm-dir",
    "/mnt/nvme/vms",
    "--image-dir",
    "/mnt/hdd/images",
  ]);
  const permissions = nodeProcessPermissions(input);
  for (const path of ["/var/lib/dbc", "/mnt/nvme/vms", "/mnt/hdd/images"]) {
    assert.ok(permissions.read.includes(path), path);
    assert.ok(permissions.write.includes(path), path);
  }
  assertWorkersFit(input);
  // Inside the data directory they need no grant of their own.
  const inside = nodeProcessPermissions(inputs(["--data-dir", "/var/lib/dbc"]));
  assert.deepEqual(inside.write, ["/var/lib/dbc", "/var/run/docker.sock"]);
});

Deno.test("the container engine's socket is granted read and write, wherever it is", () => {
  const input = inputs(["--docker-socket", "/run/user/1000/podman/podman.sock"]);
  const permissions = nodeProcessPermissions(input);
  assert.ok(permissions.read.includes("/run/user/1000/podman/podman.sock"));
  assert.ok(permissions.write.includes("/run/user/1000/podman/podman.sock"));
  assert.ok(!permissions.read.includes("/var/run/docker.sock"));
  assertWorkersFit(input);
});

Deno.test("a config file is granted read, not write", () => {
  const input = inputs(["--data-dir", "/srv/dbc"], { configFile: "/opt/conf/node.json" });
  const permissions = nodeProcessPermissions(input);
  assert.ok(permissions.read.includes("/opt/conf/node.json"));
  assert.ok(!covers(permissions.write, "/opt/conf/node.json"));
});

Deno.test("a path with a ',' is refused, naming the setting and where it came from", () => {
  const refusal = (input: ProcessPermissionInputs) => {
    try {
      nodeProcessPermissions(input);
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      return error.message;
    }
    assert.fail("accepted");
  };
  assert.match(
    refusal(inputs(["--data-dir", "/srv/a,b"])),
    /^invalid configuration: data_dir \(from flag --data-dir\): "\/srv\/a,b" contains a ','/,
  );
  assert.match(
    refusal(inputs([], { env: { DBC_DATA_DIR: "/srv/x,y" } })),
    /data_dir \(from environment variable DBC_DATA_DIR\)/,
  );
  assert.match(
    refusal(inputs([], { configFile: "/etc/a,b.json" })),
    /^invalid configuration: config/,
  );
  assert.match(refusal(inputs([], { programPaths: ["/opt/x,y/virsh"] })), /PATH/);
  assert.match(refusal(inputs([], { projectRoot: "/home/a,b" })), /project directory/);
});

Deno.test("permissionFlags writes one deno run flag a kind, entries comma-separated", () => {
  const flags = permissionFlags(nodeProcessPermissions(inputs(["--data-dir", "/srv/dbc"])));
  assert.deepEqual(flags, [
    `--allow-read=${ROOT},/etc/dbc,/srv/dbc,${
      PROGRAMS.join(",")
    },/var/run/docker.sock,${QEMU_CONF_FILE}`,
    "--allow-write=/srv/dbc,/var/run/docker.sock",
    "--allow-net",
    `--allow-env=DBC_*,${SERVICE_ENV.join(",")}`,
    `--allow-run=${[...SERVICE_PROGRAMS, ...LAN_PROGRAMS, Deno.execPath()].join(",")}`,
    `--allow-sys=${[...SERVICE_SYS, ...MONITOR_SYS].join(",")}`,
  ]);
  assert.ok(!flags.some((flag) => flag === "-A" || flag === "--allow-all"));
  assert.deepEqual(
    permissionFlags({ read: [], write: [], net: ["a:1"], env: [], run: [], sys: [] }),
    ["--allow-net=a:1"],
  );
  assert.throws(() =>
    permissionFlags({ read: ["/a,b"], write: [], net: [], env: [], run: [], sys: [] })
  );
});

Deno.test("the launcher reads the configuration as the node does: flags, DBC_* and the config file", () => {
  const files: Record<string, string> = {
    "/home/op/node.json": JSON.stringify({ data_dir: "/srv/from-file", image_dir: "/mnt/img" }),
    "/home/op/broken.json": "{",
  };
  const readTextFile = (path: string) => {
    const text = files[path];
    if (text === undefined) throw new Deno.errors.NotFound(path);
    return text;
  };
  const grants = (args: string[], env: Record<string, string> = {}) =>
    nodeGrants({ args, env, cwd: "/home/op", projectRoot: ROOT, readTextFile });
  const [read, write] = grants(["--config", "node.json"], {
    DBC_VM_DIR: "/mnt/vms",
  }) as [string, string];
  assert.equal(read.split("=")[1]!.split(",").includes("/home/op/node.json"), true);
  assert.equal(write, "--allow-write=/srv/from-file,/var/run/docker.sock,/mnt/vms,/mnt/img");
  // Flags win over the file and the environment, as they do for the node.
  assert.equal(
    grants(["--config", "node.json", "--data-dir", "/data"], { DBC_DATA_DIR: "/env" })[1],
    "--allow-write=/data,/var/run/docker.sock,/mnt/img",
  );

  // What the node refuses, or --help and --version, get the defaults' grants: main.ts says what is wrong.
  const defaults = grants([]);
  assert.deepEqual(grants(["--http-port", "eighty", "--data-dir", "/srv/elsewhere"]), defaults);
  assert.deepEqual(grants(["--help", "--data-dir", "/srv/elsewhere"]), defaults);
  assert.deepEqual(grants(["--version"]), defaults);
  // ... and the config file it names, so the node reads it and reports its own error.
  assert.ok(grants(["--config", "broken.json"])[0]!.includes(",/home/op/broken.json,"));
  assert.ok(grants([], { DBC_CONFIG: "missing.json" })[0]!.includes(",/home/op/missing.json,"));

  assert.throws(() => grants(["--data-dir", "/srv/a,b"]), ConfigError);
});
