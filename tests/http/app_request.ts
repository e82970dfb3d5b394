/** One request to an app under test: JSON body, signed by a wallet or carrying a session. */
import type { createApp } from "../../http/mod.ts";
import { walletHeaders } from "../wallets.ts";

export type Credentials = {
  signer?: Parameters<typeof walletHeaders>[0];
  session?: string;
};

/** Sends `method path` to `app`; answers the status and the parsed envelope. */
export async function appRequest(
  app: ReturnType<typeof createApp>,
  method: string,
  path: string,
  credentials: Credentials = {},
  body?: unknown,
  // deno-lint-ignore no-explicit-any
): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (credentials.signer) {
    Object.assign(
      headers,
      walletHeaders(credentials.signer, { method, path, body, timestamp: Date.now() }),
    );
  }
  if (credentials.session) headers["x-dbc-session"] = credentials.session;
  const response = await app.request(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}
