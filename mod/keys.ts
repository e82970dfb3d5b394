/**
 * The node's identity: an Ed25519 key pair created on first start and kept in
 * the data directory (mode 0600). The node id is the libp2p peer id of the
 * public key (base58btc of an identity multihash over the protobuf-encoded
 * key), so the id itself carries the public key and anyone holding an id can
 * verify that node's signatures and seal messages to it.
 *
 * @example
 * ```ts
 * const { keys } = loadOrCreateNodeKeys("/var/lib/dbc/node.key");
 * keys.nodeId; // "12D3KooW..."
 * ```
 */
import { ed25519 } from "@noble/curves/ed25519.js";
import { base58, base64 } from "@scure/base";

export type NodeKeys = {
  /** The 32-byte Ed25519 secret seed. Never leaves the main thread and the network worker. */
  readonly privateKey: Uint8Array;
  readonly publicKey: Uint8Array;
  readonly nodeId: string;
};

/** The key file exists but cannot be used; the node refuses to start rather than mint a new identity. */
export class KeyFileError extends Error {
  constructor(readonly path: string, detail: string) {
    super(`node key file ${path}: ${detail}`);
    this.name = "KeyFileError";
  }
}

const KEY_FILE_VERSION = 1;
const KEY_FILE_MODE = 0o600;

type KeyFile = { version: number; type: "ed25519"; private_key: string };

export function keysFromPrivateKey(privateKey: Uint8Array): NodeKeys {
  if (privateKey.length !== 32) throw new RangeError("an Ed25519 private key is 32 bytes");
  const publicKey = ed25519.getPublicKey(privateKey);
  return { privateKey, publicKey, nodeId: nodeIdFromPublicKey(publicKey) };
}

export function generateNodeKeys(): NodeKeys {
  return keysFromPrivateKey(ed25519.utils.randomSecretKey());
}

// libp2p's PublicKey protobuf: field 1 (KeyType) = 1 (Ed25519), field 2 (Data) = 32 bytes.
const PROTOBUF_ED25519_PREFIX = [0x08, 0x01, 0x12, 0x20];
// Multihash "identity" (code 0x00), digest length 36 = the protobuf above.
const IDENTITY_MULTIHASH_PREFIX = [0x00, 0x24];

/** The libp2p peer id (`12D3KooW...`) of an Ed25519 public key. */
export function nodeIdFromPublicKey(publicKey: Uint8Array): string {
  if (publicKey.length !== 32) throw new RangeError("an Ed25519 public key is 32 bytes");
  return base58.encode(
    Uint8Array.from([...IDENTITY_MULTIHASH_PREFIX, ...PROTOBUF_ED25519_PREFIX, ...publicKey]),
  );
}

/** The public key inside a node id, or `undefined` when the text is not an Ed25519 peer id. */
export function publicKeyFromNodeId(nodeId: string): Uint8Array | undefined {
  let bytes: Uint8Array;
  try {
    bytes = base58.decode(nodeId);
  } catch {
    return undefined;
  }
  const prefix = [...IDENTITY_MULTIHASH_PREFIX, ...PROTOBUF_ED25519_PREFIX];
  if (bytes.length !== prefix.length + 32 || prefix.some((byte, index) => bytes[index] !== byte)) {
    return undefined;
  }
  return bytes.slice(prefix.length);
}

export type LoadedKeys = {
  keys: NodeKeys;
  /** True when this call created the key file. */
  created: boolean;
  /** True when an existing file was readable by others and has been narrowed to 0600. */
  tightened: boolean;
};

/**
 * Reads the key file at `path`, or creates it (atomically, 0600) when it does
 * not exist. A file that exists but is damaged is an error, never replaced:
 * replacing it would silently give the node a new identity.
 */
export function loadOrCreateNodeKeys(path: string): LoadedKeys {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      throw new KeyFileError(path, `cannot read: ${(error as Error).message}`);
    }
    return createKeyFile(path);
  }
  const keys = parseKeyFile(path, text);
  let tightened = false;
  const mode = Deno.statSync(path).mode;
  if (mode !== null && (mode & 0o077) !== 0) {
    Deno.chmodSync(path, KEY_FILE_MODE);
    tightened = true;
  }
  return { keys, created: false, tightened };
}

function parseKeyFile(path: string, text: string): NodeKeys {
  let parsed: Partial<KeyFile>;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new KeyFileError(
      path,
      "not valid JSON; restore it from a backup or move it away to create a new identity",
    );
  }
  if (
    parsed.version !== KEY_FILE_VERSION || parsed.type !== "ed25519" ||
    typeof parsed.private_key !== "string"
  ) {
    throw new KeyFileError(
      path,
      `expected {"version":${KEY_FILE_VERSION},"type":"ed25519","private_key":"<base64>"}`,
    );
  }
  let privateKey: Uint8Array;
  try {
    privateKey = base64.decode(parsed.private_key);
  } catch {
    throw new KeyFileError(path, "private_key is not base64");
  }
  if (privateKey.length !== 32) throw new KeyFileError(path, "private_key must be 32 bytes");
  return keysFromPrivateKey(privateKey);
}

function createKeyFile(path: string): LoadedKeys {
  const keys = generateNodeKeys();
  const body: KeyFile = {
    version: KEY_FILE_VERSION,
    type: "ed25519",
    private_key: base64.encode(keys.privateKey),
  };
  const temporary = `${path}.${crypto.randomUUID()}.tmp`;
  const file = Deno.openSync(temporary, { write: true, createNew: true, mode: KEY_FILE_MODE });
  try {
    file.writeSync(new TextEncoder().encode(`${JSON.stringify(body)}\n`));
    file.syncSync();
  } finally {
    file.close();
  }
  // The umask may have widened `mode`; set it exactly before the file becomes visible.
  Deno.chmodSync(temporary, KEY_FILE_MODE);
  try {
    // A link fails if another process created the key meanwhile, so two racing starts agree on one identity.
    Deno.linkSync(temporary, path);
  } catch (error) {
    Deno.removeSync(temporary);
    if (error instanceof Deno.errors.AlreadyExists) return loadOrCreateNodeKeys(path);
    throw new KeyFileError(path, `cannot create: ${(error as Error).message}`);
  }
  Deno.removeSync(temporary);
  return { keys, created: true, tightened: false };
}
