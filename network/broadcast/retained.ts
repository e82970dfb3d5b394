/**
 * The latest broadcast of each origin on a retained topic (the market), kept whole and
 * origin-signed so that a node that joins late can be handed the current market at once
 * instead of waiting up to a refresh for every GPU node. The store believes nothing: what
 * goes in was admitted as its origin signed it, and the receiver checks it again.
 */
import type { Broadcast } from "../wire.ts";

export type RetainedOptions = { maxOrigins: number };

const encoder = new TextEncoder();

export class RetainedBroadcasts {
  readonly maxOrigins: number;
  /** Insertion order is update order: the origin heard from longest ago goes first when full. */
  #byOrigin = new Map<string, Broadcast>();

  constructor(options: RetainedOptions) {
    this.maxOrigins = options.maxOrigins;
  }

  get size(): number {
    return this.#byOrigin.size;
  }

  /** Keeps `message` unless the origin's kept one is newer (an older copy arriving late). */
  keep(message: Broadcast): void {
    const known = this.#byOrigin.get(message.origin);
    if (known && known.ts > message.ts) return;
    this.#byOrigin.delete(message.origin);
    this.#byOrigin.set(message.origin, message);
    while (this.#byOrigin.size > this.maxOrigins) {
      const oldest = this.#byOrigin.keys().next().value;
      if (oldest === undefined) break;
      this.#byOrigin.delete(oldest);
    }
  }

  /** The origin left (it said goodbye): its last word is no longer the market's. */
  forget(origin: string): void {
    this.#byOrigin.delete(origin);
  }

  /**
   * The kept broadcasts no older than `maxAgeMs`, in pages of at most `maxMessages` and
   * `maxBytes` of JSON each; always at least one page (empty when nothing is kept), so the
   * asker learns that the answer is complete.
   */
  pages(now: number, maxAgeMs: number, maxMessages: number, maxBytes: number): Broadcast[][] {
    const pages: Broadcast[][] = [];
    let page: Broadcast[] = [];
    let bytes = 0;
    for (const [origin, message] of this.#byOrigin) {
      if (now - message.ts > maxAgeMs) {
        this.#byOrigin.delete(origin);
        continue;
      }
      // Bytes, not characters: the frame limit counts bytes.
      const size = encoder.encode(JSON.stringify(message)).length + 1;
      // Relayed whole it fitted a frame, but not with a page's fields around it: a page the
      // sender cannot send, or the receiver must refuse, would lose the rest of the answer.
      if (size > maxBytes) continue;
      if (page.length > 0 && (page.length >= maxMessages || bytes + size > maxBytes)) {
        pages.push(page);
        page = [];
        bytes = 0;
      }
      page.push(message);
      bytes += size;
    }
    pages.push(page);
    return pages;
  }
}
