/**
 * The operator's token: a random secret in `<data_dir>/operator.token`
 * (mode 0600), made at first start and kept across restarts, so whoever can
 * read the node's files can use the operator endpoints and nobody else. The
 * same idea as bitcoind's cookie file: nothing to configure, nothing in
 * process arguments or the environment.
 */
import { base64urlnopad } from "@scure/base";

const TOKEN_FILE_MODE = 0o600;
const TOKEN_BYTES = 32;
/** base64url of 32 bytes, without padding. */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

export class OperatorTokenError extends Error {
  constructor(readonly path: string, reason: string) {
    super(`operator token file ${path}: ${reason}`);
    this.name = "OperatorTokenError";
  }
}

/** Reads the token, creating the file when there is none. */
export function loadOrCreateOperatorToken(path: string): string {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      throw new OperatorTokenError(path, (error as Error).message);
    }
    return createTokenFile(path);
  }
  const token = text.trim();
  if (!TOKEN_SHAPE.test(token)) {
    // Never replaced silently: scripts holding the old token should fail loudly, not mysteriously.
    throw new OperatorTokenError(path, "not a token; delete the file to have a new one made");
  }
  if ((Deno.statSync(path).mode ?? 0) & 0o077) Deno.chmodSync(path, TOKEN_FILE_MODE);
  return token;
}

function createTokenFile(path: string): string {
  const token = base64urlnopad.encode(crypto.getRandomValues(new Uint8Array(TOKEN_BYTES)));
  const temporary = `${path}.${crypto.randomUUID()}.tmp`;
  Deno.writeTextFileSync(temporary, `${token}\n`, { createNew: true, mode: TOKEN_FILE_MODE });
  Deno.chmodSync(temporary, TOKEN_FILE_MODE);
  try {
    // Linking fails when a racing start made the file first; both then use that one.
    Deno.linkSync(temporary, path);
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return loadOrCreateOperatorToken(path);
    throw new OperatorTokenError(path, `cannot create: ${(error as Error).message}`);
  } finally {
    Deno.removeSync(temporary);
  }
  return token;
}

/** Compares without an early exit, so the time taken says nothing about the token. */
export function tokensEqual(given: string, expected: string): boolean {
  const a = new TextEncoder().encode(given);
  const b = new TextEncoder().encode(expected);
  let difference = a.length ^ b.length;
  for (let index = 0; index < b.length; index++) difference |= (a[index] ?? 0) ^ b[index]!;
  return difference === 0;
}
