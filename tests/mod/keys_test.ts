import assert from "node:assert/strict";
import { ed25519 } from "@noble/curves/ed25519.js";
import { publicKeyFromRaw } from "@libp2p/crypto/keys";
import { peerIdFromPublicKey } from "@libp2p/peer-id";
import { hexToBytes } from "@noble/hashes/utils.js";
import {
  generateNodeKeys,
  KeyFileError,
  keysFromPrivateKey,
  loadOrCreateNodeKeys,
  nodeIdFromPublicKey,
  publicKeyFromNodeId,
} from "../../mod/mod.ts";

Deno.test("Ed25519 key derivation matches RFC 8032 test vector 1", () => {
  const keys = keysFromPrivateKey(
    hexToBytes("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"),
  );
  assert.deepEqual(
    keys.publicKey,
    hexToBytes("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"),
  );
  const signature = ed25519.sign(new Uint8Array(), keys.privateKey);
  assert.deepEqual(
    signature,
    hexToBytes(
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
  );
});

Deno.test("the node id is the libp2p peer id of the public key, and gives the key back", () => {
  for (let round = 0; round < 5; round++) {
    const keys = generateNodeKeys();
    const libp2pId = peerIdFromPublicKey(publicKeyFromRaw(keys.publicKey)).toString();
    assert.equal(keys.nodeId, libp2pId);
    assert.match(keys.nodeId, /^12D3KooW/);
    assert.deepEqual(publicKeyFromNodeId(keys.nodeId), keys.publicKey);
  }
  assert.equal(publicKeyFromNodeId("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"), undefined);
  assert.equal(publicKeyFromNodeId("not base58 0OIl"), undefined);
  assert.throws(() => nodeIdFromPublicKey(new Uint8Array(31)), RangeError);
});

Deno.test("a key file is created 0600, then the same identity is loaded on every later start", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/node.key`;
    const first = loadOrCreateNodeKeys(path);
    assert.equal(first.created, true);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    const second = loadOrCreateNodeKeys(path);
    assert.equal(second.created, false);
    assert.equal(second.keys.nodeId, first.keys.nodeId);
    assert.deepEqual(second.keys.privateKey, first.keys.privateKey);
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((entry) => entry.name),
      ["node.key"],
      "no temporary file is left",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a key file readable by others is narrowed to 0600 and reported", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/node.key`;
    const { keys } = loadOrCreateNodeKeys(path);
    await Deno.chmod(path, 0o644);
    const again = loadOrCreateNodeKeys(path);
    assert.equal(again.tightened, true);
    assert.equal(again.keys.nodeId, keys.nodeId);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a damaged key file is refused and left untouched, never replaced by a new identity", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/node.key`;
    for (
      const damaged of [
        "{not json",
        `{"version":1,"type":"ed25519","private_key":"AAAA"}`,
        `{"version":2}`,
      ]
    ) {
      await Deno.writeTextFile(path, damaged, { mode: 0o600 });
      assert.throws(() => loadOrCreateNodeKeys(path), KeyFileError);
      assert.equal(await Deno.readTextFile(path), damaged);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
