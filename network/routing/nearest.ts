/**
 * The `count` contacts nearest a key among several sources (the routing table,
 * the address book), nearest first, each id once. One pass with a short
 * sorted list: a source of a thousand entries costs about one comparison each.
 */
import { compareDistance, type RoutingKey, routingKey } from "./key.ts";
import type { Contact } from "./table.ts";

export function nearestContacts(
  target: RoutingKey,
  count: number,
  sources: Iterable<Contact>[],
  skip: (id: string) => boolean,
): Contact[] {
  const best: Array<{ contact: Contact; key: RoutingKey }> = [];
  const seen = new Set<string>();
  for (const source of sources) {
    for (const contact of source) {
      if (seen.has(contact.id) || skip(contact.id)) continue;
      seen.add(contact.id);
      const key = routingKey(contact.id);
      const worst = best[best.length - 1];
      if (best.length >= count && worst && compareDistance(key, worst.key, target) >= 0) continue;
      let index = best.length;
      while (index > 0 && compareDistance(key, best[index - 1]!.key, target) < 0) index--;
      best.splice(index, 0, { contact: { id: contact.id, address: contact.address }, key });
      if (best.length > count) best.pop();
    }
  }
  return best.map((entry) => entry.contact);
}
