/** `deno task compile` on a machine that cannot download Deno's runtime fails with instructions, not a stack trace. */
import assert from "node:assert/strict";
import { DENO_BIN, REPO_ROOT } from "../helpers.ts";

async function compile(env: Record<string, string>) {
  const result = await new Deno.Command(DENO_BIN, {
    args: ["task", "-q", "compile"],
    cwd: REPO_ROOT,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: result.code, stderr: new TextDecoder().decode(result.stderr) };
}

Deno.test("compile without a reachable runtime download explains DENORT_BIN", async () => {
  const { code, stderr } = await compile({});
  assert.equal(code, 1);
  assert.match(stderr, /could not download it/);
  assert.match(stderr, /DENORT_BIN=\/path\/to\/denort deno task compile/);
  assert.doesNotMatch(stderr, /Stack backtrace/);
});

Deno.test("compile with DENORT_BIN naming no file says so before trying", async () => {
  const { code, stderr } = await compile({ DENORT_BIN: "/nonexistent/denort" });
  assert.equal(code, 1);
  assert.match(stderr, /DENORT_BIN=\/nonexistent\/denort does not name a file/);
});
