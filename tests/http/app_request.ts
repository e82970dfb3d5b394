/** One request to an app under test: JSON body, signed by a wallet or carrying a session. */
import { type AppDeps, createApp } from "../../http/mod.ts";
import { silentLogger } from "../../mod/mod.ts";
import { walletHeaders } from "../wallets.ts";

/** The node id the GPU node's app of {@link gpuApp} has. */
export const TEST_GPU_NODE = "12D3KooWLNDhWRc1VNwjKGS69Qbu2i4SVKh6aZW3HEc9T5pTGH5k";

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

/** A GPU node's native app over `call`, and {@link appRequest} to it. */
export function gpuApp(call: AppDeps["call"]) {
  const app = createApp({
    call,
    log: silentLogger,
    node: { nodeId: TEST_GPU_NODE, role: "gpu", forwardTimeoutMs: 5_000 },
  });
  const request = (method: string, path: string, auth: Credentials = {}, body?: unknown) =>
    appRequest(app, method, path, auth, body);
  return { app, request };
}
