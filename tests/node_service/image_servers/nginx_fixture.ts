/**
 * A real image server for the tests: Debian's nginx with WebDAV (PUT and
 * DELETE from the core dav module, PROPFIND from dav-ext;
 * scripts/system/image_server_setup.sh installs them), one per test on a
 * free loopback port with a scratch root, in the foreground as one process
 * (no daemon, no master), stopped by the test. Its access log records each
 * request's method, path, Range header and status, so a test can tell a
 * resumed download from a fresh one.
 *
 * Also a TCP relay to put in front of it that cuts one answer after a
 * number of bytes (a connection that breaks mid-download) or slows request
 * bodies down (an upload to stop mid-way): faults at the socket, with the
 * real server behind.
 */
import { freePort, scratchDir, waitFor } from "../../helpers.ts";

const DAV_EXT_MODULE = "/usr/lib/nginx/modules/ngx_http_dav_ext_module.so";

export type Nginx = {
  /** The base URL of its root directory (`http://127.0.0.1:<port>/`). */
  url: string;
  port: number;
  /** The directory it serves (files put there appear on it). */
  root: string;
  /** One line a request: `METHOD PATH RANGE STATUS BYTES_SENT`. */
  accessLog(): Promise<string[]>;
  stop(): Promise<void>;
};

/** Starts nginx; `rateBytes` slows each answer down (so a test can stop a transfer mid-way). */
export async function startNginx(options: { rateBytes?: number } = {}): Promise<Nginx> {
  const dir = await scratchDir("image-server");
  const root = `${dir}/root`;
  await Deno.mkdir(root);
  await Deno.mkdir(`${dir}/body`);
  const port = freePort();
  const conf = `
load_module ${DAV_EXT_MODULE};
daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 64; }
http {
  log_format probe '$request_method $uri "$http_range" $status $bytes_sent';
  access_log ${dir}/access.log probe;
  client_body_temp_path ${dir}/body;
  client_max_body_size 0;
  server {
    listen 127.0.0.1:${port};
    root ${root};
    location / {
      dav_methods PUT DELETE;
      dav_ext_methods PROPFIND OPTIONS;
      dav_access user:rw group:r all:r;
      ${options.rateBytes ? `limit_rate ${options.rateBytes};` : ""}
    }
  }
}
`;
  await Deno.writeTextFile(`${dir}/nginx.conf`, conf);
  const child = new Deno.Command("nginx", {
    args: ["-p", dir, "-c", `${dir}/nginx.conf`],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const url = `http://127.0.0.1:${port}/`;
  await waitFor("nginx answers", async () => {
    try {
      const response = await fetch(url, { method: "OPTIONS" });
      await response.body?.cancel();
      return true;
    } catch {
      return undefined;
    }
  }, 10_000);
  return {
    url,
    port,
    root,
    accessLog: async () =>
      (await Deno.readTextFile(`${dir}/access.log`).catch(() => "")).split("\n").filter((l) => l),
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already gone.
      }
      await child.status;
      await child.stderr.cancel().catch(() => {});
      await Deno.remove(dir, { recursive: true });
    },
  };
}

export type Relay = { port: number; url: string; cuts(): number; stop(): Promise<void> };

export type RelayOptions = {
  /** The first answer longer than this is cut at this many bytes (once). */
  cutAfter?: number;
  /** The request bodies are passed on at this rate (a slow uplink). */
  upstreamBytesPerSecond?: number;
};

/** Relays loopback TCP to port `target`, breaking or slowing it as `options` say. */
export function startRelay(target: number, options: RelayOptions): Relay {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let cuts = 0;
  const open = new Set<Deno.Conn>();
  const closeBoth = (a: Deno.Conn, b: Deno.Conn) => {
    for (const conn of [a, b]) {
      try {
        conn.close();
      } catch {
        // Closed already.
      }
      open.delete(conn);
    }
  };
  const serve = (async () => {
    for await (const inbound of listener) {
      open.add(inbound);
      (async () => {
        const outbound = await Deno.connect({ hostname: "127.0.0.1", port: target });
        open.add(outbound);
        const rate = options.upstreamBytesPerSecond;
        const up = inbound.readable.pipeTo(
          new WritableStream({
            async write(chunk) {
              for (let at = 0; at < chunk.byteLength; at += 16_384) {
                const piece = chunk.subarray(at, at + 16_384);
                await writeAll(outbound, piece);
                if (rate) await new Promise((r) => setTimeout(r, (piece.byteLength / rate) * 1000));
              }
            },
          }),
        ).catch(() => {});
        let passed = 0;
        const down = outbound.readable.pipeTo(
          new WritableStream({
            async write(chunk) {
              const cutAt = options.cutAfter;
              if (cutAt !== undefined && cuts === 0 && passed + chunk.byteLength > cutAt) {
                cuts++;
                await writeAll(inbound, chunk.subarray(0, Math.max(0, cutAt - passed)));
                throw new Error("cut");
              }
              passed += chunk.byteLength;
              await writeAll(inbound, chunk);
            },
          }),
        ).catch(() => {});
        await Promise.race([up, down]);
        closeBoth(inbound, outbound);
      })().catch(() => {});
    }
  })().catch(() => {});
  const { port } = listener.addr as Deno.NetAddr;
  return {
    port,
    url: `http://127.0.0.1:${port}/`,
    cuts: () => cuts,
    async stop() {
      listener.close();
      for (const conn of [...open]) {
        try {
          conn.close();
        } catch {
          // Closed already.
        }
      }
      await serve;
    },
  };
}

async function writeAll(conn: Deno.Conn, chunk: Uint8Array): Promise<void> {
  let at = 0;
  while (at < chunk.byteLength) at += await conn.write(chunk.subarray(at));
}
