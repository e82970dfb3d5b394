/** The tar writer, read back by GNU tar: names, types, modes, owners and contents. */
import assert from "node:assert/strict";
import { authorizedKeysArchive } from "../../../../node_service/container/service.ts";
import { tarArchive } from "../../../../node_service/container/docker/tar.ts";
import { scratchDir } from "../../../helpers.ts";

async function tar(args: string[], cwd: string): Promise<string> {
  const output = await new Deno.Command("tar", { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  return new TextDecoder().decode(output.stdout);
}

Deno.test("tarArchive writes what GNU tar lists and extracts byte for byte", async () => {
  const dir = await scratchDir("tar");
  try {
    const big = crypto.getRandomValues(new Uint8Array(1500)); // Spans blocks, with padding.
    const archive = tarArchive([
      { type: "dir", path: "root/.ssh", mode: 0o700 },
      { type: "file", path: "root/.ssh/authorized_keys", mode: 0o600, content: big },
      { type: "file", path: "empty", mode: 0o644, content: new Uint8Array(), uid: 1000, gid: 100 },
    ]);
    assert.equal(archive.length % 512, 0);
    await Deno.writeFile(`${dir}/a.tar`, archive);
    const listing = (await tar(["--numeric-owner", "-tvf", "a.tar"], dir)).trim().split("\n");
    assert.match(listing[0]!, /^drwx------ 0\/0 +0 .* root\/\.ssh\/$/);
    assert.match(listing[1]!, /^-rw------- 0\/0 +1500 .* root\/\.ssh\/authorized_keys$/);
    assert.match(listing[2]!, /^-rw-r--r-- 1000\/100 +0 .* empty$/);
    await Deno.mkdir(`${dir}/out`);
    await tar(["-xf", "../a.tar"], `${dir}/out`);
    assert.deepEqual(await Deno.readFile(`${dir}/out/root/.ssh/authorized_keys`), big);
    assert.equal((await Deno.stat(`${dir}/out/root/.ssh`)).mode! & 0o777, 0o700);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tarArchive refuses paths that would leave the target or do not fit", () => {
  const file = (path: string) => ({
    type: "file" as const,
    path,
    mode: 0o600,
    content: new Uint8Array(),
  });
  assert.throws(() => tarArchive([file("/etc/passwd")]), /relative/);
  assert.throws(() => tarArchive([file("root/../../etc/passwd")]), /relative/);
  assert.throws(() => tarArchive([file(`a/${"b".repeat(120)}`)]), /too long/);
});

Deno.test("authorized keys go to root's .ssh, one per line", async () => {
  const dir = await scratchDir("tar-keys");
  try {
    await Deno.writeFile(
      `${dir}/k.tar`,
      authorizedKeysArchive(["ssh-ed25519 AAAA a", "ssh-rsa BBBB"]),
    );
    await Deno.mkdir(`${dir}/out`);
    await tar(["-xf", "../k.tar"], `${dir}/out`);
    assert.equal(
      await Deno.readTextFile(`${dir}/out/root/.ssh/authorized_keys`),
      "ssh-ed25519 AAAA a\nssh-rsa BBBB\n",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
