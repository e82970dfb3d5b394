import assert from "node:assert/strict";
import { ed25519, x25519 } from "@noble/curves/ed25519.js";
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import {
  Ed25519Signer,
  generateNodeKeys,
  newEphemeralKey,
  open,
  seal,
  verifyEd25519,
  verifyEd25519Native,
  verifyEd25519Sync,
  x25519PublicKeyFromEd25519,
  x25519SecretFromEd25519,
} from "../../mod/mod.ts";

const hex = (text: string) =>
  Uint8Array.from(text.match(/../g) ?? [], (pair) => parseInt(pair, 16));
const toHex = (bytes: Uint8Array) =>
  [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
const text = (value: string) => new TextEncoder().encode(value);
/** The Ed25519 group order L, little-endian (RFC 8032, section 5.1). */
const ED25519_ORDER_LE = hex(
  "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010",
);

// RFC 8032, section 7.1, tests 1-3.
const RFC8032 = [
  {
    secret: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    public: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    message: "",
    signature:
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
  },
  {
    secret: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
    public: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
    message: "72",
    signature:
      "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
  },
  {
    secret: "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
    public: "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
    message: "af82",
    signature:
      "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
  },
];

Deno.test("Ed25519 matches RFC 8032 vectors natively, with WebCrypto and with noble", async () => {
  for (const vector of RFC8032) {
    const signer = new Ed25519Signer(hex(vector.secret));
    assert.equal(toHex(signer.publicKey), vector.public);
    const message = hex(vector.message);
    assert.equal(toHex(await signer.sign(message)), vector.signature);
    assert.equal(toHex(signer.signSync(message)), vector.signature);
    assert.equal(toHex(signer.signNative(message)), vector.signature);
    assert.equal(await verifyEd25519(hex(vector.public), message, hex(vector.signature)), true);
    assert.equal(verifyEd25519Native(hex(vector.public), message, hex(vector.signature)), true);
    assert.equal(verifyEd25519Sync(hex(vector.public), message, hex(vector.signature)), true);
  }
});

Deno.test("native, WebCrypto and noble agree on what verifies, and none throws on junk", async () => {
  const keys = generateNodeKeys();
  const signer = new Ed25519Signer(keys.privateKey);
  const message = text("a broadcast");
  const signature = await signer.sign(message);
  const tampered = Uint8Array.from(signature);
  tampered[10]! ^= 1;
  const other = text("a broadcasT");
  // S + L: the same signature with a scalar that is not reduced, which RFC 8032 refuses.
  const unreduced = Uint8Array.from(signature);
  let carry = 0;
  for (let index = 0; index < 32; index++) {
    const sum = unreduced[32 + index]! + ED25519_ORDER_LE[index]! + carry;
    unreduced[32 + index] = sum & 0xff;
    carry = sum >> 8;
  }
  for (
    const [sig, msg, expected] of [[signature, message, true], [tampered, message, false], [
      signature,
      other,
      false,
    ], [unreduced, message, false]] as const
  ) {
    assert.equal(await verifyEd25519(keys.publicKey, msg, sig), expected);
    assert.equal(verifyEd25519Sync(keys.publicKey, msg, sig), expected);
    assert.equal(verifyEd25519Native(keys.publicKey, msg, sig), expected);
  }
  const notAPoint = new Uint8Array(32).fill(0xff);
  assert.equal(verifyEd25519Native(notAPoint, message, signature), false);
  assert.equal(verifyEd25519Native(notAPoint, message, signature), false, "cached refusal");
  assert.equal(verifyEd25519Native(keys.publicKey, message, new Uint8Array(10)), false);
  assert.equal(verifyEd25519Native(new Uint8Array(5), message, signature), false);
  assert.equal(await verifyEd25519(new Uint8Array(32), message, signature), false);
  assert.equal(await verifyEd25519(keys.publicKey, message, new Uint8Array(10)), false);
  assert.equal(verifyEd25519Sync(new Uint8Array(5), message, signature), false);
});

Deno.test("X25519 matches RFC 7748 (function vectors and the Diffie-Hellman example)", () => {
  assert.equal(
    toHex(x25519.scalarMult(
      hex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4"),
      hex("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c"),
    )),
    "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
  );
  const alice = hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  const bob = hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
  assert.equal(
    toHex(x25519.getPublicKey(alice)),
    "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
  );
  assert.equal(
    toHex(x25519.getPublicKey(bob)),
    "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
  );
  const shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
  assert.equal(toHex(x25519.getSharedSecret(alice, x25519.getPublicKey(bob))), shared);
  assert.equal(toHex(x25519.getSharedSecret(bob, x25519.getPublicKey(alice))), shared);
});

Deno.test("ChaCha20-Poly1305 matches the RFC 8439 AEAD example (section 2.8.2)", () => {
  const key = hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
  const nonce = hex("070000004041424344454647");
  const aad = hex("50515253c0c1c2c3c4c5c6c7");
  const plaintext = text(
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
  );
  const sealed = chacha20poly1305(key, nonce, aad).encrypt(plaintext);
  assert.equal(
    toHex(sealed),
    "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116" +
      "1ae10b594f09e26a7e902ecbd0600691",
  );
});

Deno.test("the X25519 key derived from a node's Ed25519 key pair is one key pair", () => {
  const keys = generateNodeKeys();
  const secret = x25519SecretFromEd25519(keys.privateKey);
  assert.deepEqual(x25519.getPublicKey(secret), x25519PublicKeyFromEd25519(keys.publicKey));
  assert.deepEqual(
    x25519PublicKeyFromEd25519(keys.publicKey),
    ed25519.utils.toMontgomery(keys.publicKey),
  );
});

Deno.test("a sealed message opens only for its recipient and only with its header", () => {
  const recipient = generateNodeKeys();
  const relay = generateNodeKeys();
  const header = text('["dbc/sealed/1","net","a","b","nonce",1]');
  const plaintext = text("a request only the target may read");
  const ephemeral = newEphemeralKey();
  const ciphertext = seal({
    ephemeral,
    recipientPublicKey: recipient.publicKey,
    associatedData: header,
    plaintext,
  });
  assert.equal(ciphertext.length, plaintext.length + 16);
  const input = { ephemeralPublicKey: ephemeral.publicKey, associatedData: header, ciphertext };
  assert.deepEqual(open({ ...input, recipient: { seed: recipient.privateKey } }), plaintext);
  assert.deepEqual(
    open({ ...input, recipient: { x25519Secret: x25519SecretFromEd25519(recipient.privateKey) } }),
    plaintext,
  );
  // A relay holds the whole message and still cannot read it.
  assert.equal(open({ ...input, recipient: { seed: relay.privateKey } }), undefined);
  // An altered header, ciphertext or ephemeral key is refused.
  const otherHeader = text('["dbc/sealed/1","net","a","c","nonce",1]');
  assert.equal(
    open({ ...input, associatedData: otherHeader, recipient: { seed: recipient.privateKey } }),
    undefined,
  );
  const flipped = Uint8Array.from(ciphertext);
  flipped[3]! ^= 0x80;
  assert.equal(
    open({ ...input, ciphertext: flipped, recipient: { seed: recipient.privateKey } }),
    undefined,
  );
  assert.equal(
    open({
      ...input,
      ephemeralPublicKey: newEphemeralKey().publicKey,
      recipient: { seed: recipient.privateKey },
    }),
    undefined,
  );
  // Two seals of the same text differ (fresh ephemeral keys).
  const again = seal({
    ephemeral: newEphemeralKey(),
    recipientPublicKey: recipient.publicKey,
    associatedData: header,
    plaintext,
  });
  assert.notDeepEqual(again, ciphertext);
});
