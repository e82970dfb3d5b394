/**
 * The node's event log as other workers see it: one row per operation (who,
 * what, which target, result), read newest first in pages.
 */
import { z } from "zod";

/** The most events one page may hold. */
export const MAX_EVENT_PAGE = 500;
export const DEFAULT_EVENT_PAGE = 100;

export const EventResultSchema = z.enum(["ok", "error"]);

export const LoggedEventSchema = z.object({
  id: z.number().int(),
  at: z.number(),
  actor: z.string(),
  action: z.string(),
  target: z.string().nullable(),
  result: EventResultSchema,
  detail: z.record(z.string(), z.unknown()),
});

const Millis = z.number().int().min(0);

export const EventListParamsSchema = z.object({
  /** An exact action (`vm.create`), or a prefix ending in a dot (`vm.`). */
  action: z.string().regex(/^[a-z0-9_.]{1,64}$/).optional(),
  actor: z.string().min(1).max(128).optional(),
  target: z.string().min(1).max(128).optional(),
  result: EventResultSchema.optional(),
  since: Millis.optional(),
  until: Millis.optional(),
  /** Paging: the `next_before_id` of the previous page. */
  before_id: z.number().int().min(1).optional(),
  limit: z.number().int().min(1).max(MAX_EVENT_PAGE).default(DEFAULT_EVENT_PAGE),
}).strict();
export type EventListParams = z.input<typeof EventListParamsSchema>;

export const EventListSchema = z.object({
  events: z.array(LoggedEventSchema),
  /** Pass as `before_id` for the next (older) page; null when this page is the last. */
  next_before_id: z.number().int().nullable(),
});
