/**
 * The Zabbix sender protocol over TCP, as the original speaks it
 * (DBC-AIComputingNet 0.4.1.7, src/dbc/service/node_monitor_service/
 * zabbixSender.cpp): every request and answer is `ZBXD`, a flags byte (0x01),
 * the JSON's length as 8 bytes little-endian, then the JSON. One request a
 * connection, one answer, then the connection is closed.
 *
 * Before it sends a host's data to a server, the original asks the server
 * whether it wants that host (`{"request":"active checks","host":"<host>"}`,
 * answered `{"response":"success",...}` for a host the server knows) and
 * sends the data only when it does, asking again after 300 s.
 *
 * Pure.
 */
import { MAX_ANSWER_BYTES, ZABBIX_FLAGS, ZABBIX_HEADER, ZABBIX_HEADER_BYTES } from "./constants.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A request or answer on the wire. */
export function frame(json: string): Uint8Array {
  const body = encoder.encode(json);
  const bytes = new Uint8Array(ZABBIX_HEADER_BYTES + body.length);
  bytes.set(encoder.encode(ZABBIX_HEADER), 0);
  bytes[4] = ZABBIX_FLAGS;
  new DataView(bytes.buffer).setBigUint64(5, BigInt(body.length), true);
  bytes.set(body, ZABBIX_HEADER_BYTES);
  return bytes;
}

export type FrameRead =
  | { kind: "incomplete" }
  | { kind: "invalid"; reason: string }
  | { kind: "frame"; json: string; length: number };

/** The first frame in `bytes`, read as the original reads an answer (at most 4 KiB of JSON). */
export function readFrame(bytes: Uint8Array, maxBytes = MAX_ANSWER_BYTES): FrameRead {
  if (bytes.length < ZABBIX_HEADER_BYTES) return { kind: "incomplete" };
  if (decoder.decode(bytes.subarray(0, 4)) !== ZABBIX_HEADER) {
    return { kind: "invalid", reason: "the answer is not the Zabbix protocol (no ZBXD header)" };
  }
  const length = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    .getBigUint64(5, true);
  if (length === 0n || length > BigInt(maxBytes)) {
    return { kind: "invalid", reason: `an answer of ${length} bytes (at most ${maxBytes})` };
  }
  const end = ZABBIX_HEADER_BYTES + Number(length);
  if (bytes.length < end) return { kind: "incomplete" };
  return {
    kind: "frame",
    json: decoder.decode(bytes.subarray(ZABBIX_HEADER_BYTES, end)),
    length: end,
  };
}

/** Whether the server wants `host`'s data: the original's question before it sends any. */
export function activeChecksRequest(host: string): string {
  return JSON.stringify({ request: "active checks", host });
}

/** The original's `check_response`: an object whose `response` is `"success"`. */
export function answerSucceeded(json: string): boolean {
  try {
    const answer = JSON.parse(json);
    return typeof answer === "object" && answer !== null && answer.response === "success";
  } catch {
    return false;
  }
}
