/** Wallet signatures made by polkadot-js, checked by the node's own verification. */
import assert from "node:assert/strict";
import { u8aToHex, u8aWrapBytes } from "@polkadot/util";
import { decodeAddress, encodeAddress, encodeMultiAddress } from "@polkadot/util-crypto";
import { multisigAccount, multisigAccountId } from "../../../mod/wallet/multisig.ts";
import { ReplayGuard } from "../../../mod/wallet/replay_guard.ts";
import {
  bodyDigest,
  canonicalJson,
  canonicalRequestMessage,
} from "../../../mod/wallet/signed_request.ts";
import { decodeSs58, encodeSs58, normalizeAccount } from "../../../mod/wallet/ss58.ts";
import {
  authFieldsFromBody,
  authFieldsFromHeaders,
  type AuthFieldsSource,
  newReplayGuards,
  verifyRequestAuth,
  type WalletAuthConfig,
} from "../../../mod/wallet/auth.ts";
import { parseWalletSignature, verifyWalletSignature } from "../../../mod/wallet/signature.ts";
import { devWallets, freshNonce, multisigHeaders, signFor, walletHeaders } from "../../wallets.ts";

const NOW = 1_750_000_000_000;
const CONFIG: WalletAuthConfig = { timestampWindowMs: 300_000, allowLegacyNonce: false };
const PATH = "/api/v1/ledger/rentals";
const BODY = { machine_id: "machine-1", unit: "hour", count: 3 };

function check(
  headers: Record<string, string>,
  options: {
    method?: string;
    path?: string;
    body?: unknown;
    now?: number;
    guards?: ReturnType<typeof newReplayGuards>;
    config?: WalletAuthConfig;
    fields?: AuthFieldsSource;
  } = {},
) {
  return verifyRequestAuth({
    request: {
      method: options.method ?? "POST",
      pathAndQuery: options.path ?? PATH,
      body: "body" in options ? options.body : BODY,
    },
    fields: options.fields ?? authFieldsFromHeaders(new Headers(headers)),
    now: options.now ?? NOW,
    guards: options.guards ?? newReplayGuards(CONFIG.timestampWindowMs),
    config: options.config ?? CONFIG,
  });
}

Deno.test("SS58 decoding and encoding agree with polkadot-js, one- and two-byte prefixes", async () => {
  const { alice, bobEd } = await devWallets();
  for (const prefix of [0, 2, 42, 63, 64, 1284, 16383]) {
    const address = encodeAddress(alice.publicKey, prefix);
    const decoded = decodeSs58(address);
    assert.ok(decoded, `prefix ${prefix}`);
    assert.equal(decoded.prefix, prefix);
    assert.deepEqual(decoded.accountId, decodeAddress(address));
    assert.equal(encodeSs58(alice.publicKey, prefix), address);
  }
  assert.equal(normalizeAccount(encodeAddress(bobEd.publicKey, 0)), bobEd.address);
  const broken = alice.address.slice(0, -1) + (alice.address.endsWith("Y") ? "Z" : "Y");
  assert.equal(decodeSs58(broken), undefined, "a wrong checksum is refused");
  assert.equal(decodeSs58("not-base58-0OIl"), undefined);
  assert.equal(decodeSs58(""), undefined);
});

Deno.test("multisig accounts are derived as Substrate and polkadot-js derive them", async () => {
  const { alice, bob, charlie, dave, aliceEd } = await devWallets();
  const cases: Array<[string[], number]> = [
    [[alice.address, bob.address, charlie.address], 2],
    [[charlie.address, alice.address, bob.address], 2],
    [[alice.address, bob.address], 1],
    [[alice.address, bob.address, charlie.address, dave.address, aliceEd.address], 5],
  ];
  for (const [addresses, threshold] of cases) {
    const derived = multisigAccount(addresses, threshold);
    assert.ok(derived.ok);
    assert.equal(derived.address, encodeMultiAddress(addresses, threshold, 42));
  }
  assert.deepEqual(
    multisigAccountId([alice.publicKey, bob.publicKey], 2),
    multisigAccountId([bob.publicKey, alice.publicKey], 2),
  );
  assert.equal(multisigAccount([alice.address, alice.address], 1).ok, false, "duplicates refused");
  assert.equal(multisigAccount([alice.address, bob.address], 3).ok, false, "threshold above n");
  assert.equal(multisigAccount([alice.address, bob.address], 0).ok, false, "threshold zero");
  assert.equal(multisigAccount([alice.address], 1).ok, false, "one signatory is no multisig");
});

Deno.test("the canonical message binds method, path, account, body, time and nonce", () => {
  const text = canonicalRequestMessage({
    method: "POST",
    pathAndQuery: "/api/v1/ledger/rentals?x=1",
    account: "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
    body: { b: 1, a: [true, null, "é"], sign: "0xdead" },
    timestampMs: 1_700_000_000_000,
    nonce: "abc",
  });
  assert.equal(
    text,
    [
      "dbc-request-v1",
      "POST",
      "/api/v1/ledger/rentals?x=1",
      "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
      bodyDigest({ a: [true, null, "é"], b: 1 }),
      "1700000000000",
      "abc",
    ].join("\n"),
  );
  assert.equal(
    canonicalJson({ b: { d: 1, c: [2, { f: 3, e: 4 }] }, a: "x" }),
    '{"a":"x","b":{"c":[2,{"e":4,"f":3}],"d":1}}',
  );
  assert.equal(
    bodyDigest(undefined),
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "no body digests the empty string",
  );
  assert.equal(
    bodyDigest({ x: 1, multisig_accounts: { wallets: ["w"], threshold: 1, signs: [{ s: 1 }] } }),
    bodyDigest({ x: 1, multisig_accounts: { wallets: ["w"], threshold: 1 } }),
  );
  assert.throws(() =>
    canonicalRequestMessage({
      method: "POST",
      pathAndQuery: "/a",
      account: "x",
      body: undefined,
      timestampMs: 1,
      nonce: "a\nb",
    })
  );
});

Deno.test("sr25519 and ed25519 signatures from polkadot-js verify, raw, wrapped and typed", async () => {
  const { alice, aliceEd, bob } = await devWallets();
  const message = new TextEncoder().encode("hello DBC");
  for (const pair of [alice, aliceEd]) {
    for (const wrapped of [false, true]) {
      const signature = pair.sign(wrapped ? u8aWrapBytes(message) : message);
      const check = await verifyWalletSignature(
        pair.publicKey,
        message,
        parseWalletSignature(u8aToHex(signature))!,
      );
      assert.deepEqual(check, { ok: true, scheme: pair.type, wrapped }, `${pair.type} ${wrapped}`);
    }
    // A 65-byte MultiSignature names its scheme in the first byte.
    const typed = parseWalletSignature(u8aToHex(pair.sign(message, { withType: true })));
    assert.equal(typed?.scheme, pair.type);
    assert.equal((await verifyWalletSignature(pair.publicKey, message, typed!)).ok, true);
    // The same signature under another key fails, and so does ed25519 with noble.
    const signature = parseWalletSignature(u8aToHex(pair.sign(message)))!;
    assert.equal((await verifyWalletSignature(bob.publicKey, message, signature)).ok, false);
    assert.equal(
      (await verifyWalletSignature(pair.publicKey, message, signature, { ed25519: "noble" })).ok,
      true,
    );
  }
  assert.equal(parseWalletSignature("0x1234"), undefined);
  assert.equal(parseWalletSignature("zz".repeat(64)), undefined);
});

Deno.test("a request signed by the real wallet library is accepted, sr25519 and ed25519", async () => {
  const { alice, aliceEd } = await devWallets();
  for (const pair of [alice, aliceEd]) {
    for (const raw of [false, true]) {
      const headers = walletHeaders(pair, {
        method: "POST",
        path: PATH,
        body: BODY,
        timestamp: NOW,
        raw,
      });
      const outcome = await check(headers);
      assert.ok(outcome.ok, JSON.stringify(outcome));
      assert.equal(outcome.account, pair.address);
      assert.equal(outcome.kind, "wallet");
      assert.deepEqual(outcome.schemes, [pair.type]);
      assert.equal(outcome.legacy, false);
    }
  }
});

Deno.test("a wrong key, a changed body, path or method, a replay and a stale time are refused", async () => {
  const { alice, bob } = await devWallets();
  const sign = (options: { timestamp?: number; nonce?: string } = {}) =>
    walletHeaders(alice, { method: "POST", path: PATH, body: BODY, timestamp: NOW, ...options });

  const wrongKey = { ...sign(), "x-dbc-wallet": bob.address };
  const wrong = await check(wrongKey);
  assert.equal(wrong.ok, false);
  assert.equal(!wrong.ok && wrong.reason, "bad_signature");

  const changed = await check(sign(), { body: { ...BODY, count: 300 } });
  assert.equal(!changed.ok && changed.reason, "bad_signature");
  const otherPath = await check(sign(), { path: "/api/v1/ledger/rentals/1/renew" });
  assert.equal(!otherPath.ok && otherPath.reason, "bad_signature");
  const otherMethod = await check(sign(), { method: "PUT" });
  assert.equal(!otherMethod.ok && otherMethod.reason, "bad_signature");

  const guards = newReplayGuards(CONFIG.timestampWindowMs);
  const once = sign();
  assert.equal((await check(once, { guards })).ok, true);
  const replay = await check(once, { guards });
  assert.equal(!replay.ok && replay.reason, "replayed");
  // The replay is refused even later, while the time stamp is still inside the window.
  const laterReplay = await check(once, { guards, now: NOW + 200_000 });
  assert.equal(!laterReplay.ok && laterReplay.reason, "replayed");

  const stale = await check(sign({ timestamp: NOW - 300_001 }));
  assert.equal(!stale.ok && stale.reason, "stale_timestamp");
  const future = await check(sign({ timestamp: NOW + 300_001 }));
  assert.equal(!future.ok && future.reason, "stale_timestamp");
  const edge = await check(sign({ timestamp: NOW - 300_000 }));
  assert.equal(edge.ok, true, "the window's edge is inside");

  const missing = await check({});
  assert.equal(!missing.ok && missing.reason, "missing");
});

Deno.test("a 2-of-3 multisig account acts with 2 signatures and not with 1", async () => {
  const { alice, bob, charlie, dave } = await devWallets();
  const signatories = [alice, bob, charlie];
  const options = { method: "POST", path: PATH, body: BODY, timestamp: NOW };
  const two = await check(multisigHeaders(signatories, 2, [alice, charlie], options));
  assert.ok(two.ok, JSON.stringify(two));
  assert.equal(two.kind, "multisig");
  assert.equal(two.account, encodeMultiAddress(signatories.map((pair) => pair.address), 2, 42));
  assert.deepEqual(two.multisig?.threshold, 2);
  assert.deepEqual(new Set(two.signers), new Set([alice.address, charlie.address]));

  const one = await check(multisigHeaders(signatories, 2, [bob], options));
  assert.equal(!one.ok && one.reason, "threshold_not_met");

  const outsider = await check(multisigHeaders(signatories, 2, [alice, dave], options));
  assert.equal(!outsider.ok && outsider.reason, "malformed");

  // A signature by a member over another account's message does not count.
  const forged = multisigHeaders(signatories, 2, [alice, bob], options);
  const bobSignature = signFor(bob, bob.address, { ...options, nonce: forged["x-dbc-nonce"]! });
  forged["x-dbc-multisig-signs"] = forged["x-dbc-multisig-signs"]!.replace(
    /,.*$/,
    `,${bob.address}:${bobSignature}`,
  );
  const bad = await check(forged);
  assert.equal(!bad.ok && bad.reason, "bad_signature");

  const twice = multisigHeaders(signatories, 2, [alice, alice], options);
  const dup = await check(twice);
  assert.equal(!dup.ok && dup.reason, "malformed");
});

Deno.test("original clients' body fields are accepted, in both multisig shapes", async () => {
  const { alice, bob, charlie } = await devWallets();
  const nonce = freshNonce();
  const body = { ...BODY, wallet: alice.address, nonce, timestamp: NOW, sign: "" };
  body.sign = signFor(alice, alice.address, {
    method: "POST",
    path: PATH,
    body,
    timestamp: NOW,
    nonce,
  });
  const single = await check({}, { body, fields: authFieldsFromBody(body) });
  assert.ok(single.ok, JSON.stringify(single));

  const signatories = [alice, bob, charlie];
  const account = encodeMultiAddress(signatories.map((pair) => pair.address), 2, 42);
  const multiNonce = freshNonce();
  const original = {
    ...BODY,
    nonce: multiNonce,
    timestamp: String(NOW),
    multisig_accounts: {
      wallets: signatories.map((pair) => pair.address),
      threshold: 2,
      signs: [] as Array<{ wallet: string; nonce: string; sign: string }>,
    },
  };
  for (const pair of [bob, charlie]) {
    original.multisig_accounts.signs.push({
      wallet: pair.address,
      nonce: multiNonce,
      sign: signFor(pair, account, {
        method: "POST",
        path: PATH,
        body: original,
        timestamp: NOW,
        nonce: multiNonce,
      }),
    });
  }
  const multi = await check({}, { body: original, fields: authFieldsFromBody(original) });
  assert.ok(multi.ok, JSON.stringify(multi));
  assert.equal(multi.account, account);

  const both = authFieldsFromBody({ wallet: alice.address, multisig_wallets: [bob.address] });
  const refused = await check({}, { fields: both });
  assert.equal(!refused.ok && refused.reason, "malformed");
  const malformed = await check({}, { fields: authFieldsFromBody({ nonce: 5 }) });
  assert.equal(!malformed.ok && malformed.reason, "malformed");
});

Deno.test("signing the bare nonce works only with legacy signing on, and only once", async () => {
  const { alice, bob, charlie } = await devWallets();
  const nonce = freshNonce();
  const legacyFields = authFieldsFromBody({
    wallet: alice.address,
    nonce,
    sign: u8aToHex(alice.sign(u8aWrapBytes(new TextEncoder().encode(nonce)))),
  });
  const off = await check({}, { fields: legacyFields });
  assert.equal(!off.ok && off.reason, "legacy_refused");

  const legacy: WalletAuthConfig = { ...CONFIG, allowLegacyNonce: true };
  const guards = newReplayGuards(CONFIG.timestampWindowMs);
  const on = await check({}, { fields: legacyFields, config: legacy, guards });
  assert.ok(on.ok);
  assert.equal(on.legacy, true);
  assert.equal(on.timestampMs, null);
  const again = await check({}, { fields: legacyFields, config: legacy, guards });
  assert.equal(!again.ok && again.reason, "replayed");

  // The original's multisig: each signer signs its own nonce.
  const signs = [bob, charlie].map((pair) => {
    const own = freshNonce();
    return {
      wallet: pair.address,
      nonce: own,
      sign: u8aToHex(pair.sign(new TextEncoder().encode(own))),
    };
  });
  const multi = await check({}, {
    config: legacy,
    guards,
    fields: authFieldsFromBody({
      multisig_wallets: [alice.address, bob.address, charlie.address],
      multisig_threshold: 2,
      multisig_signs: signs,
    }),
  });
  assert.ok(multi.ok, JSON.stringify(multi));
});

Deno.test("the replay guard stays bounded per account and never lets a forgotten request through", () => {
  const guard = new ReplayGuard({ maxAccounts: 10, maxPerAccount: 3, windowMs: 1_000 });
  assert.equal(guard.claim("alice", "a", 100, 100), "fresh");
  assert.equal(guard.claim("alice", "b", 200, 200), "fresh");
  assert.equal(guard.claim("alice", "c", 300, 300), "fresh");
  assert.equal(guard.claim("alice", "a", 100, 300), "replayed");
  assert.equal(guard.claim("bob", "a", 100, 300), "fresh", "nonces are per account");
  // Alice is full: her "a" (signed at 100) is pushed out, so anything she signed at or before 100 is too old.
  assert.equal(guard.claim("alice", "d", 400, 400), "fresh");
  assert.equal(guard.size, 4);
  assert.equal(guard.claim("alice", "a", 100, 400), "too_old");
  assert.equal(guard.claim("alice", "e", 90, 400), "too_old");
  assert.equal(guard.claim("bob", "e", 90, 400), "fresh", "Alice's floor is hers alone");
  // Entries past the window are forgotten first, without raising the floor.
  assert.equal(guard.claim("alice", "f", 1_350, 1_350), "fresh");
  assert.equal(guard.claim("alice", "g", 250, 1_350), "fresh", "250 is above her floor of 100");
});

Deno.test("one account flooding with future times locks out only itself", () => {
  const guard = new ReplayGuard({ maxAccounts: 10, maxPerAccount: 64, windowMs: 600_000 });
  const now = 1_000_000;
  for (let index = 0; index < 10_000; index++) {
    guard.claim("mallory", `n-${index}`, now + 300_000, now);
  }
  assert.ok(guard.size <= 64, "bounded per account");
  assert.equal(guard.claim("alice", "honest", now, now), "fresh");
  assert.equal(guard.claim("mallory", "late", now, now), "too_old", "its own floor rose");
});

Deno.test("a replay guard full of live accounts asks new ones to wait and pushes nobody out", () => {
  const guard = new ReplayGuard({ maxAccounts: 3, maxPerAccount: 4, windowMs: 1_000 });
  assert.equal(guard.claim("alice", "a", 100, 100), "fresh");
  assert.equal(guard.claim("m1", "x", 1_100, 100), "fresh");
  assert.equal(guard.claim("m2", "x", 1_100, 100), "fresh");
  assert.equal(guard.claim("m3", "x", 1_100, 100), "busy");
  assert.equal(guard.claim("alice", "a", 100, 200), "replayed", "Alice is still remembered");
  assert.equal(guard.claim("alice", "b", 1_500, 200), "fresh", "known accounts go on");
  // Once every entry of an account lies past the window, the account is forgotten and room is made.
  assert.equal(guard.claim("m3", "x", 2_200, 2_201), "fresh");
  assert.equal(guard.accounts, 2, "m1 and m2 were forgotten, Alice (signed at 1 500) stays");
  assert.equal(guard.claim("alice", "b", 1_500, 2_201), "replayed");
  // The legacy guard (no times) forgets the least recently seen account instead.
  const legacy = new ReplayGuard({
    maxAccounts: 2,
    maxPerAccount: 4,
    windowMs: Number.POSITIVE_INFINITY,
    whenFull: "forget_least_recent",
  });
  legacy.claim("a", "1", 0, 0);
  legacy.claim("b", "1", 0, 0);
  legacy.claim("a", "2", 0, 0);
  assert.equal(legacy.claim("c", "1", 0, 0), "fresh");
  assert.equal(legacy.claim("a", "1", 0, 0), "replayed", "a was seen last, b was forgotten");
  assert.equal(legacy.accounts, 2);
});

Deno.test("200k requests signed 300 s ahead by one account do not make anyone else's too old", async () => {
  const { alice } = await devWallets();
  const guards = newReplayGuards(CONFIG.timestampWindowMs);
  // What a flood of valid requests leaves in the replay memory (their signatures held).
  for (let index = 0; index < 200_000; index++) {
    guards.signed.claim("5Mallory", `flood-${index}`, NOW + 300_000, NOW);
  }
  const honest = await check(walletHeaders(alice, {
    method: "POST",
    path: PATH,
    body: BODY,
    timestamp: NOW,
  }));
  assert.ok(honest.ok, JSON.stringify(honest));
});

Deno.test("multisig signatories are bounded, and the bound and threshold are checked before any signature", async () => {
  const { alice, bob } = await devWallets();
  const many = Array.from({ length: 100 }, (_, index) => {
    const id = new Uint8Array(32);
    id[0] = 1;
    id[31] = index;
    return encodeSs58(id, 42);
  });
  const badSign = "0x" + "11".repeat(64);
  const fields = (wallets: string[], threshold: number, signers: string[]) =>
    authFieldsFromHeaders(
      new Headers({
        "x-dbc-nonce": freshNonce(),
        "x-dbc-timestamp": String(NOW),
        "x-dbc-multisig-wallets": wallets.join(","),
        "x-dbc-multisig-threshold": String(threshold),
        "x-dbc-multisig-signs": signers.map((wallet) => `${wallet}:${badSign}`).join(","),
      }),
    );
  // Bad signatures everywhere: a refusal other than bad_signature shows none was checked.
  const hundred = await check({}, { fields: fields(many, 100, many) });
  assert.equal(!hundred.ok && hundred.reason, "malformed");
  assert.match(!hundred.ok ? hundred.message : "", /at most 16 signatories/);
  const seventeen = await check({}, { fields: fields(many.slice(0, 17), 2, many.slice(0, 2)) });
  assert.equal(!seventeen.ok && seventeen.reason, "malformed");
  const short = await check({}, { fields: fields(many.slice(0, 16), 10, many.slice(0, 9)) });
  assert.equal(!short.ok && short.reason, "threshold_not_met");
  const sixteen = await check({}, { fields: fields(many.slice(0, 16), 2, many.slice(0, 2)) });
  assert.equal(!sixteen.ok && sixteen.reason, "bad_signature", "16 are allowed and checked");
  // A real 2-of-16 still acts.
  const signatories = [alice, bob];
  const ok = await check(multisigHeaders(signatories, 2, [alice, bob], {
    method: "POST",
    path: PATH,
    body: BODY,
    timestamp: NOW,
  }));
  assert.ok(ok.ok, JSON.stringify(ok));
});
