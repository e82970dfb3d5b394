/**
 * `service.summary` broadcasts as a node's market table takes them
 * (node_service/market/table.ts): summaries valid per their schema, edited,
 * or anything, offered by their own node or another, at times moving on, to
 * a small table (so it fills). Contract: `offer` never throws and answers
 * one of its outcomes; nobody's summary is taken from another node; the
 * table never holds more than its bound; what it lists fits
 * `MarketNodeSchema`, newest summary per node, none expired.
 */
import fc from "fast-check";
import { MarketNodeSchema, ServiceSummarySchema } from "../../../mod/mod.ts";
import { MarketTable } from "../../../node_service/market/table.ts";
import { CATALOGUE_VALUES } from "../http_stub.ts";
import { type Json, mutatedJson, oddJson } from "../mutate.ts";
import { schemaValues } from "../schema_arbitrary.ts";
import { expect, type FuzzTarget } from "../target.ts";
import { nodeIds } from "../wire_arbitraries.ts";

const MAX_ENTRIES = 3;
const OUTCOMES = ["added", "updated", "stale", "refused"];
type Offer = { summary: Json; originIsOwn: boolean; origin: string; advance: number };

export const target: FuzzTarget<Offer[]> = {
  name: "market.table",
  about:
    "MarketTable takes any broadcast without throwing, stays bounded, lists only valid entries",
  property: () => {
    const ids = fc.constantFrom(...fc.sample(nodeIds, { numRuns: 5, seed: 1 }));
    const valid = schemaValues(ServiceSummarySchema, CATALOGUE_VALUES).chain((summary) =>
      summary === undefined
        ? fc.constant(null as Json)
        : fc.record({ id: ids, at: fc.nat(200_000) }).map(({ id, at }) =>
          ({ ...summary, node_id: id, signed_at: 1_767_225_600_000 + at }) as Json
        )
    );
    return {
      arbitrary: fc.array(
        fc.record({
          summary: fc.oneof(
            { arbitrary: valid, weight: 6 },
            { arbitrary: mutatedJson(valid, 2), weight: 3 },
            { arbitrary: oddJson(), weight: 1 },
          ),
          originIsOwn: fc.boolean(),
          origin: ids,
          advance: fc.oneof(fc.nat(5_000), fc.nat(3_600_000)),
        }),
        { maxLength: 12 },
      ),
      check: (offers) => {
        const table = new MarketTable({ maxEntries: MAX_ENTRIES });
        let now = 1_767_225_600_000;
        for (const offer of offers) {
          now += offer.advance;
          const summary = offer.summary as { node_id?: unknown } | null;
          const own = typeof summary?.node_id === "string" ? summary.node_id : offer.origin;
          const origin = offer.originIsOwn ? own : offer.origin;
          const outcome = table.offer(origin, offer.summary, now);
          expect(OUTCOMES.includes(outcome.kind), `outcome ${outcome.kind}`);
          if (outcome.kind === "added" || outcome.kind === "updated") {
            expect(own === origin, "a summary was taken from another node");
          }
          expect(table.size <= MAX_ENTRIES, `${table.size} entries`);
          const listed = table.list(now);
          for (const node of listed) {
            expect(MarketNodeSchema.safeParse(node).success, "a listed node off its schema");
            expect(node.expires_at > now, "an expired node listed");
          }
          expect(
            new Set(listed.map((node) => node.node_id)).size === listed.length,
            "a node listed twice",
          );
        }
      },
    };
  },
};
