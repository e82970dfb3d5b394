import assert from "node:assert/strict";
import {
  CONFIG_FIELDS,
  ConfigError,
  helpText,
  loadConfig,
  parseCommandLine,
  parseHostPort,
} from "../../mod/mod.ts";

const files = (contents: Record<string, string>) => (path: string) => {
  const text = contents[path];
  if (text === undefined) throw new Deno.errors.NotFound(`no such file ${path}`);
  return text;
};

Deno.test("defaults need no file, variable or flag, and match what README promises", () => {
  const { config, sources } = loadConfig({ args: [], env: {}, cwd: "/srv/dbc" });
  assert.equal(config.role, "gpu");
  assert.equal(config.data_dir, "/srv/dbc/data");
  assert.equal(config.http_host, "127.0.0.1");
  assert.equal(config.http_port, 8080);
  assert.deepEqual(config.seeds, []);
  assert.equal(config.log_format, "text");
  assert.deepEqual(sources.http_port, { kind: "default" });
});

Deno.test("layers apply in order: defaults < config file < DBC_* environment < flags", () => {
  const readTextFile = files({
    "/etc/dbc/node.json": JSON.stringify({
      http_port: 9001,
      p2p_port: 7001,
      role: "seed",
      network_id: "from-file",
    }),
  });
  const { config, sources, configFile } = loadConfig({
    args: ["--http-port", "9003", "--seeds=10.0.0.1:5001, seed.example.org:5001,[::1]:5002"],
    env: { DBC_CONFIG: "/etc/dbc/node.json", DBC_HTTP_PORT: "9002", DBC_P2P_PORT: "7002" },
    cwd: "/",
    readTextFile,
  });
  assert.equal(configFile, "/etc/dbc/node.json");
  assert.equal(config.http_port, 9003);
  assert.deepEqual(sources.http_port, { kind: "flag", flag: "--http-port" });
  assert.equal(config.p2p_port, 7002);
  assert.deepEqual(sources.p2p_port, { kind: "env", variable: "DBC_P2P_PORT" });
  assert.equal(config.role, "seed");
  assert.deepEqual(sources.role, { kind: "file", path: "/etc/dbc/node.json" });
  assert.deepEqual(config.seeds, ["10.0.0.1:5001", "seed.example.org:5001", "[::1]:5002"]);
  assert.equal(config.network_id, "from-file");
});

Deno.test("--config on the command line wins over DBC_CONFIG, and relative paths resolve against cwd", () => {
  const readTextFile = files({
    "/home/op/flag.json": `{"data_dir": "state"}`,
    "/env.json": `{"data_dir": "/wrong"}`,
  });
  const { config } = loadConfig({
    args: ["--config", "flag.json"],
    env: { DBC_CONFIG: "/env.json" },
    cwd: "/home/op",
    readTextFile,
  });
  assert.equal(config.data_dir, "/home/op/state");
});

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${error}`);
    return error;
  }
  assert.fail("expected a ConfigError");
}

Deno.test("a bad value stops with the field's name and where the value came from", () => {
  const fromEnv = configError(() =>
    loadConfig({ args: [], env: { DBC_HTTP_PORT: "eighty" }, cwd: "/" })
  );
  assert.equal(fromEnv.field, "http_port");
  assert.match(
    fromEnv.message,
    /http_port \(from environment variable DBC_HTTP_PORT\): expected an integer from 1 to 65535; got "eighty"/,
  );

  const fromFlag = configError(() =>
    loadConfig({ args: ["--p2p-port", "70000"], env: {}, cwd: "/" })
  );
  assert.equal(fromFlag.field, "p2p_port");
  assert.match(fromFlag.message, /flag --p2p-port/);

  const role = configError(() => loadConfig({ args: ["--role", "miner"], env: {}, cwd: "/" }));
  assert.equal(role.field, "role");
  assert.match(role.message, /expected one of gpu, seed, client/);

  const seed = configError(() =>
    loadConfig({ args: ["--seeds", "10.0.0.1:5001,nonsense"], env: {}, cwd: "/" })
  );
  assert.equal(seed.field, "seeds");
  assert.match(seed.message, /\[1\] expected host:port/);

  const host = configError(() =>
    loadConfig({ args: ["--http-host", "not a host"], env: {}, cwd: "/" })
  );
  assert.equal(host.field, "http_host");

  const network = configError(() =>
    loadConfig({ args: ["--network-id", "Main Net"], env: {}, cwd: "/" })
  );
  assert.equal(network.field, "network_id");

  const logFormat = configError(() =>
    loadConfig({ args: [], env: { DBC_LOG_FORMAT: "xml" }, cwd: "/" })
  );
  assert.equal(logFormat.field, "log_format");
});

Deno.test("typed values in a config file are checked too", () => {
  const readTextFile = files({ "/c.json": JSON.stringify({ http_port: "8080" }) });
  const error = configError(() =>
    loadConfig({ args: ["--config", "/c.json"], env: {}, cwd: "/", readTextFile })
  );
  assert.equal(error.field, "http_port");
  assert.match(error.message, /config file \/c.json/);
});

Deno.test("unknown flags, unknown file keys, unreadable or non-JSON files are refused by name", () => {
  assert.equal(
    configError(() => loadConfig({ args: ["--http-prot", "1"], env: {}, cwd: "/" })).field,
    "--http-prot",
  );
  assert.equal(
    configError(() => loadConfig({ args: ["--http-port"], env: {}, cwd: "/" })).field,
    "--http-port",
  );
  assert.equal(
    configError(() => loadConfig({ args: ["stray"], env: {}, cwd: "/" })).field,
    "stray",
  );
  const readTextFile = files({
    "/typo.json": `{"http_prot": 1}`,
    "/broken.json": "{",
    "/list.json": "[]",
  });
  assert.equal(
    configError(() =>
      loadConfig({ args: ["--config", "/typo.json"], env: {}, cwd: "/", readTextFile })
    ).field,
    "http_prot",
  );
  assert.match(
    configError(() =>
      loadConfig({ args: ["--config", "/broken.json"], env: {}, cwd: "/", readTextFile })
    ).message,
    /not valid JSON/,
  );
  assert.match(
    configError(() =>
      loadConfig({ args: ["--config", "/list.json"], env: {}, cwd: "/", readTextFile })
    ).message,
    /JSON object/,
  );
  assert.match(
    configError(() =>
      loadConfig({ args: ["--config", "/missing.json"], env: {}, cwd: "/", readTextFile })
    ).message,
    /cannot read/,
  );
});

Deno.test("--help and --version are recognised, and help lists every field with its variable", () => {
  assert.equal(parseCommandLine({ args: ["--help"], env: {}, cwd: "/" }).action, "help");
  assert.equal(parseCommandLine({ args: ["--version"], env: {}, cwd: "/" }).action, "version");
  const text = helpText();
  for (const key of Object.keys(CONFIG_FIELDS)) {
    assert.ok(text.includes(`--${key.replaceAll("_", "-")}`), `help mentions --${key}`);
    assert.ok(text.includes(`DBC_${key.toUpperCase()}`), `help mentions DBC_${key.toUpperCase()}`);
  }
});

Deno.test("parseHostPort accepts names, IPv4 and bracketed IPv6, and rejects the rest", () => {
  assert.deepEqual(parseHostPort("seed1.dbc.org:5001"), { host: "seed1.dbc.org", port: 5001 });
  assert.deepEqual(parseHostPort("[fe80::1]:443"), { host: "fe80::1", port: 443 });
  for (const bad of ["seed", "seed:", ":5001", "seed:0", "seed:65536", "fe80::1:443", "a b:1"]) {
    assert.equal(parseHostPort(bad), undefined, bad);
  }
});
