/**
 * A monitoring server for the tests: a real TCP listener speaking the Zabbix
 * sender protocol as a Zabbix server (or proxy) does, written here from the
 * protocol, not from the node's code, so a framing mistake on either side
 * shows. It answers "active checks" with success for the hosts it knows (and
 * "failed" for the rest, as Zabbix does for an unknown host), "agent data"
 * with its usual "processed" line, and keeps every request it read.
 */

export type Received = { at: number; request: Record<string, unknown> };

export type ZabbixListener = {
  port: number;
  received: Received[];
  /** Connections accepted, whether or not a request came on them. */
  connections: () => number;
  /** The agent data it received for `host`, in order. */
  agentData: (host: string) => Array<Record<string, unknown>>;
  close(): Promise<void>;
};

const HEADER = [0x5a, 0x42, 0x58, 0x44, 0x01]; // "ZBXD", 0x01

function encode(json: string): Uint8Array {
  const body = new TextEncoder().encode(json);
  const bytes = new Uint8Array(13 + body.length);
  bytes.set(HEADER, 0);
  new DataView(bytes.buffer).setUint32(5, body.length, true); // the upper 4 bytes stay 0
  bytes.set(body, 13);
  return bytes;
}

async function readExactly(conn: Deno.Conn, length: number): Promise<Uint8Array | undefined> {
  const bytes = new Uint8Array(length);
  let filled = 0;
  while (filled < length) {
    const count = await conn.read(bytes.subarray(filled));
    if (count === null) return undefined;
    filled += count;
  }
  return bytes;
}

export function startZabbixListener(
  options: { knows: (host: string) => boolean; silent?: boolean },
): ZabbixListener {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const received: Received[] = [];
  let connections = 0;
  const open = new Set<Deno.Conn>();
  const serve = async (conn: Deno.Conn) => {
    open.add(conn);
    try {
      if (options.silent) {
        // Accepts and never answers: the sender's deadline must end the exchange.
        const sink = new Uint8Array(1 << 16);
        while (await conn.read(sink) !== null) {
          // Swallowed.
        }
        return;
      }
      const header = await readExactly(conn, 13);
      if (!header) return;
      if (!HEADER.every((byte, index) => header[index] === byte)) {
        throw new Error(`not a Zabbix header: ${[...header.subarray(0, 5)]}`);
      }
      const length = new DataView(header.buffer).getBigUint64(5, true);
      const body = await readExactly(conn, Number(length));
      if (!body) return;
      const request = JSON.parse(new TextDecoder().decode(body));
      received.push({ at: Date.now(), request });
      const answer = request.request === "active checks"
        ? options.knows(String(request.host))
          ? { response: "success", data: [] }
          : { response: "failed", info: `host [${request.host}] not found` }
        : {
          response: "success",
          info: `processed: ${request.data?.length ?? 0}; failed: 0; total: ${
            request.data?.length ?? 0
          }; seconds spent: 0.000100`,
        };
      await conn.write(encode(JSON.stringify(answer)));
    } catch {
      // A sender that went away: nothing to answer.
    } finally {
      open.delete(conn);
      try {
        conn.close();
      } catch {
        // Closed by close().
      }
    }
  };
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        connections++;
        serve(conn);
      }
    } catch {
      // Closed.
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    received,
    connections: () => connections,
    agentData: (host) =>
      received.map((entry) => entry.request).filter((request) =>
        request.request === "agent data" &&
        (request.data as Array<{ host: string }>).every((item) => item.host === host)
      ),
    async close() {
      listener.close();
      for (const conn of open) {
        try {
          conn.close();
        } catch {
          // Already closed.
        }
      }
      await accepting;
    },
  };
}
