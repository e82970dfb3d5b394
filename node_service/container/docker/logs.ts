/**
 * Docker's multiplexed log stream turned into bounded lines. Without a TTY
 * the engine frames output as: 1 byte stream (1 stdout, 2 stderr), 3 zero
 * bytes, a big-endian u32 length, then that many bytes. Pure: fed chunks,
 * it keeps at most what the caller asked for.
 */
import type { LogLine, LogQuery, LogResult, LogStream } from "../engine.ts";

/** A longer line is cut (and the answer marked truncated). */
export const MAX_LOG_LINE_BYTES = 4096;
/** Reading stops after this many bytes of log stream, whatever the line count. */
export const MAX_LOG_READ_BYTES = 1024 * 1024;

const HEADER_BYTES = 8;

/**
 * Collects lines from a multiplexed stream: the first `lines` for `head`, the
 * last `lines` for `tail`. `push` returns false once nothing more is wanted.
 */
export class LogCollector {
  #buffer: Uint8Array = new Uint8Array(0);
  #partial: Record<LogStream, Uint8Array[]> = { stdout: [], stderr: [] };
  #partialBytes: Record<LogStream, number> = { stdout: 0, stderr: 0 };
  #lines: LogLine[] = [];
  #bytesRead = 0;
  #truncated = false;
  /** Set when the stream does not look multiplexed (a TTY container): all of it is stdout. */
  #raw = false;
  readonly #decoder = new TextDecoder();

  constructor(private readonly query: LogQuery) {}

  /** Feeds a chunk; false when the caller may stop reading. */
  push(chunk: Uint8Array): boolean {
    if (this.#done()) return false;
    this.#bytesRead += chunk.byteLength;
    if (this.#bytesRead > MAX_LOG_READ_BYTES) {
      this.#truncated = true;
      return false;
    }
    if (this.#raw) {
      this.#text("stdout", chunk);
      return !this.#done();
    }
    this.#buffer = concat(this.#buffer, chunk);
    while (this.#buffer.byteLength >= HEADER_BYTES && !this.#done()) {
      const kind = this.#buffer[0];
      if ((kind !== 1 && kind !== 2) || this.#buffer[1] !== 0 || this.#buffer[2] !== 0) {
        this.#raw = true;
        const rest = this.#buffer;
        this.#buffer = new Uint8Array(0);
        this.#text("stdout", rest);
        break;
      }
      const length = new DataView(this.#buffer.buffer, this.#buffer.byteOffset).getUint32(4);
      if (this.#buffer.byteLength < HEADER_BYTES + length) break;
      const payload = this.#buffer.subarray(HEADER_BYTES, HEADER_BYTES + length);
      this.#buffer = this.#buffer.slice(HEADER_BYTES + length);
      this.#text(kind === 1 ? "stdout" : "stderr", payload);
    }
    return !this.#done();
  }

  /** The lines collected; a last line without its newline counts too. */
  finish(): LogResult {
    for (const stream of ["stdout", "stderr"] as const) {
      if (this.#partialBytes[stream] > 0) this.#emit(stream);
    }
    const lines = this.query.from === "tail"
      ? this.#lines.slice(-this.query.lines)
      : this.#lines.slice(0, this.query.lines);
    return { lines, truncated: this.#truncated };
  }

  #done(): boolean {
    return this.query.from === "head" && this.#lines.length >= this.query.lines;
  }

  #text(stream: LogStream, bytes: Uint8Array): void {
    let start = 0;
    for (let index = 0; index < bytes.byteLength; index++) {
      if (bytes[index] !== 0x0a) continue;
      this.#append(stream, bytes.subarray(start, index));
      this.#emit(stream);
      start = index + 1;
      if (this.#done()) return;
    }
    if (start < bytes.byteLength) this.#append(stream, bytes.subarray(start));
  }

  #append(stream: LogStream, bytes: Uint8Array): void {
    const room = MAX_LOG_LINE_BYTES - this.#partialBytes[stream];
    if (bytes.byteLength > room) this.#truncated = true;
    const kept = bytes.subarray(0, Math.max(0, room));
    if (kept.byteLength === 0) return;
    this.#partial[stream].push(kept.slice());
    this.#partialBytes[stream] += kept.byteLength;
  }

  #emit(stream: LogStream): void {
    const text = this.#decoder.decode(concat(...this.#partial[stream])).replace(/\r$/, "");
    this.#partial[stream] = [];
    this.#partialBytes[stream] = 0;
    this.#lines.push({ stream, text });
    // In tail mode only the last lines matter: keep memory bounded while reading.
    if (this.query.from === "tail" && this.#lines.length > 2 * this.query.lines) {
      this.#lines = this.#lines.slice(-this.query.lines);
    }
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const total = parts.reduce((sum, part) => sum + part.byteLength, 0);
  const all = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) all.set(part, offset), offset += part.byteLength;
  return all;
}
