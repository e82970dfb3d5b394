import assert from "node:assert/strict";
import { loadOrCreateOperatorToken, OperatorTokenError, tokensEqual } from "../../mod/mod.ts";
import { scratchDir } from "../helpers.ts";

Deno.test("the operator token is made once, 0600, and read back the same", async () => {
  const dir = await scratchDir("operator-token");
  try {
    const path = `${dir}/operator.token`;
    const first = loadOrCreateOperatorToken(path);
    assert.match(first, /^[A-Za-z0-9_-]{43}$/);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.equal(loadOrCreateOperatorToken(path), first);
    assert.notEqual(loadOrCreateOperatorToken(`${dir}/other.token`), first);
    // No temporary files are left behind.
    const names = [];
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    assert.deepEqual(names.sort(), ["operator.token", "other.token"]);

    // A file others could read is closed again; a damaged one is refused, never replaced.
    await Deno.chmod(path, 0o644);
    assert.equal(loadOrCreateOperatorToken(path), first);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    await Deno.writeTextFile(path, "not a token\n");
    assert.throws(() => loadOrCreateOperatorToken(path), OperatorTokenError);
    assert.equal(await Deno.readTextFile(path), "not a token\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tokens compare equal only when identical, whatever their lengths", () => {
  assert.ok(tokensEqual("abc", "abc"));
  assert.ok(!tokensEqual("abd", "abc"));
  assert.ok(!tokensEqual("ab", "abc"));
  assert.ok(!tokensEqual("abcd", "abc"));
  assert.ok(!tokensEqual("", "abc"));
});
