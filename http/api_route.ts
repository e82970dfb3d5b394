/**
 * Routes declared once, with zod schemas for their path parameters, query,
 * body and response data. The same declaration validates every request
 * (a bad field is a 400 naming the field), types the handler, and feeds the
 * OpenAPI document (`http/openapi.ts`), so the document cannot drift from
 * the code.
 *
 * @example
 * ```ts
 * const routes = new ApiRoutes();
 * routes.add({
 *   method: "get", path: "/api/v1/tasks/:id", summary: "One VM", tags: ["vms"],
 *   params: z.object({ id: z.string() }), response: TaskSchema,
 * }, ({ params }) => lookup(params.id));
 * routes.mount(app);
 * ```
 */
import type { Context, Hono } from "hono";
import { z } from "zod";
import type { ApiErrorKind } from "./errors.ts";
import { ApiError } from "./errors.ts";
import { ok } from "./envelope.ts";

export type HttpMethod = "get" | "post" | "put" | "patch" | "delete";
export type RouteAuth = "wallet" | "renter" | "operator";

export type RouteSpec<
  P extends z.ZodType = z.ZodType,
  Q extends z.ZodType = z.ZodType,
  B extends z.ZodType = z.ZodType,
  R extends z.ZodType = z.ZodType,
> = {
  method: HttpMethod;
  /** hono path syntax: `/api/v1/tasks/:id`. */
  path: string;
  summary: string;
  description?: string;
  tags: readonly string[];
  params?: P;
  query?: Q;
  body?: B;
  /** Schema of `data` inside the success envelope. */
  response: R;
  /** HTTP status of a success; 200 unless said otherwise. */
  successStatus?: 200 | 201 | 202;
  /** Failures this route can answer with, for the document; validation and internal errors are implied. */
  errors?: readonly ApiErrorKind[];
  /**
   * Who may call it, for the document (the handler itself checks): a wallet signature; the renter
   * by signature or delegated session; the local operator's token. Absent: anyone.
   */
  auth?: RouteAuth;
  /** The route answers with server-sent events (its handler returns the stream), each `data:` a `response`. */
  eventStream?: boolean;
};

export type RouteInput<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType> = {
  params: z.infer<P>;
  query: z.infer<Q>;
  body: z.infer<B>;
  /** The raw request body text, for signature checks over exactly what was sent. */
  rawBody: string;
  context: Context;
};

type AnyRoute = {
  spec: RouteSpec;
  handler: (input: RouteInput<z.ZodType, z.ZodType, z.ZodType>) => Promise<unknown> | unknown;
};

const EMPTY = z.object({});

export class ApiRoutes {
  #routes: AnyRoute[] = [];

  add<
    P extends z.ZodType = typeof EMPTY,
    Q extends z.ZodType = typeof EMPTY,
    B extends z.ZodType = typeof EMPTY,
    R extends z.ZodType = z.ZodType,
  >(
    spec: RouteSpec<P, Q, B, R>,
    handler: (input: RouteInput<P, Q, B>) => Promise<z.input<R> | Response> | z.input<R> | Response,
  ): this {
    this.#routes.push({ spec, handler } as unknown as AnyRoute);
    return this;
  }

  /** Every declared route, in declaration order. */
  get specs(): readonly RouteSpec[] {
    return this.#routes.map((route) => route.spec);
  }

  mount(app: Hono): void {
    for (const { spec, handler } of this.#routes) {
      app.on(spec.method.toUpperCase(), spec.path, async (c) => {
        const params = parse("path parameter", spec.params ?? EMPTY, c.req.param());
        const query = parse("query parameter", spec.query ?? EMPTY, c.req.query());
        const rawBody = spec.body ? await c.req.text() : "";
        let body: unknown = {};
        if (spec.body) {
          let json: unknown;
          try {
            json = rawBody === "" ? {} : JSON.parse(rawBody);
          } catch {
            throw new ApiError("invalid_request", "request body is not valid JSON");
          }
          body = parse("body field", spec.body, json);
        }
        const data = await handler({ params, query, body, rawBody, context: c });
        if (data instanceof Response) return data;
        // The response schema also strips anything a handler returned that the document does not promise.
        const checked = spec.response.safeParse(data);
        if (!checked.success) {
          throw new Error(
            `${spec.method} ${spec.path}: response does not match its schema: ${checked.error.message}`,
          );
        }
        return ok(c, checked.data, spec.successStatus ?? 200);
      });
    }
  }
}

function parse<S extends z.ZodType>(where: string, schema: S, value: unknown): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue && issue.path.length > 0 ? issue.path.join(".") : "(whole)";
  throw new ApiError("invalid_params", `${where} ${field}: ${issue?.message ?? "invalid"}`);
}
