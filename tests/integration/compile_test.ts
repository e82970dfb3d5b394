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

Deno.test("the seed executable embeds the program and its packages, not the Deno binary npm brought", async () => {
  // A stand-in for the runtime: what the task embeds is the same whatever it is appended to, and
  // the real one is a download this machine cannot make.
  const stub = (await Deno.stat("/bin/true")).size;
  const { code, stderr } = await compile({ DENORT_BIN: "/bin/true" });
  assert.equal(code, 0, stderr);
  assert.match(stderr, /built dist\/dbc-seed/);
  const built = (await Deno.stat(`${REPO_ROOT}/dist/dbc-seed`)).size;
  const denoBinary = (await Deno.stat(`${REPO_ROOT}/node_modules/deno/deno`)).size;
  // With the Deno binary inside, the payload (program, workers, npm packages) would outweigh it.
  assert.ok(built - stub < denoBinary, `payload ${built - stub} bytes`);
  assert.match(stderr, /node_service/);
});
