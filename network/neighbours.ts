/** The view of open links that broadcast and routing need: who is there, and send to one. */
import type { WireMessage } from "./wire.ts";

export interface Neighbours {
  /** Ids of the nodes with an open link, in no particular order. */
  ids(): Iterable<string>;
  has(id: string): boolean;
  /** Sends on the open link to `id`; false when there is none or it is full. */
  send(id: string, message: WireMessage): boolean;
}

/** Sends `message` to every neighbour but those in `except`; returns how many it went to. */
export function sendToAll(
  neighbours: Neighbours,
  message: WireMessage,
  except: readonly string[],
): number {
  let sent = 0;
  for (const id of neighbours.ids()) {
    if (except.includes(id)) continue;
    if (neighbours.send(id, message)) sent++;
  }
  return sent;
}
