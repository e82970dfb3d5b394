/** The renter CLI's hand-written command-line parser and `--cmd` splitter. */
import assert from "node:assert/strict";
import { parseCommandLine, splitWords } from "../../scripts/cli/args.ts";

Deno.test("words are positionals; flags take values in either spelling, counts are checked", () => {
  const parsed = parseCommandLine([
    "vm",
    "create",
    "--node=12D3KooWX",
    "--image",
    "ubuntu.qcow2",
    "--gpus",
    "0",
    "--json",
    "--memory-gib",
    "8",
  ]);
  assert.deepEqual(parsed, {
    ok: true,
    value: {
      positionals: ["vm", "create"],
      flags: { node: "12D3KooWX", image: "ubuntu.qcow2", gpus: 0, json: true, "memory-gib": 8 },
    },
  });
  assert.deepEqual(parseCommandLine(["rent", "--", "--odd-id"]), {
    ok: true,
    value: { positionals: ["rent", "--odd-id"], flags: {} },
  });
});

Deno.test("mistakes are named", () => {
  const message = (argv: string[]) => {
    const parsed = parseCommandLine(argv);
    assert.equal(parsed.ok, false, `${argv.join(" ")} should be refused`);
    return parsed.ok ? "" : parsed.message;
  };
  assert.match(message(["node", "--colour"]), /unknown option --colour/);
  assert.match(message(["node", "-j"]), /unknown option -j/);
  assert.match(message(["vm", "list", "--node"]), /--node needs a value/);
  assert.match(message(["vm", "list", "--node", "--json"]), /--node needs a value/);
  assert.match(
    message(["rent", "m1", "--period", "0"]),
    /--period: expected a whole number from 1/,
  );
  assert.match(message(["rent", "m1", "--period", "2h"]), /--period: expected a whole number/);
  assert.match(message(["vm", "create", "--gpus", "-1"]), /--gpus: expected a whole number from 0/);
  assert.match(message(["node", "--json", "--json"]), /--json given twice/);
  assert.match(message(["node", "--json=yes"]), /--json takes no value/);
});

Deno.test("--cmd splits like a shell: quotes group, backslashes escape", () => {
  assert.deepEqual(splitWords(`python3 -c 'print("hi there")'  --flag\\ x ""`), {
    ok: true,
    value: ["python3", "-c", 'print("hi there")', "--flag x", ""],
  });
  assert.deepEqual(splitWords(`sh -c "echo \\"$HOME\\""`), {
    ok: true,
    value: ["sh", "-c", 'echo "$HOME"'],
  });
  assert.deepEqual(splitWords("  "), { ok: true, value: [] });
  assert.equal(splitWords("echo 'open").ok, false);
  assert.equal(splitWords("echo \\").ok, false);
});
