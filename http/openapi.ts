/**
 * The OpenAPI 3.1 document of the API, generated from the same route
 * declarations and zod schemas that validate requests (`http/api_route.ts`).
 */
import { z } from "zod";
import { VERSION } from "../mod/mod.ts";
import type { RouteSpec } from "./api_route.ts";
import { API_ERRORS, type ApiErrorKind } from "./errors.ts";

type JsonSchema = Record<string, unknown>;

/** Failures any route may answer with: bad input, overload, internal errors. */
const COMMON_ERRORS: readonly ApiErrorKind[] = [
  "invalid_params",
  "payload_too_large",
  "rate_limited",
  "internal",
];

function jsonSchema(schema: z.ZodType, io: "input" | "output"): JsonSchema {
  const converted = z.toJSONSchema(schema, {
    target: "draft-2020-12",
    io,
    unrepresentable: "any",
  }) as JsonSchema;
  delete converted.$schema;
  return converted;
}

/** `/api/v1/tasks/:id` -> `/api/v1/tasks/{id}` */
export function openApiPath(honoPath: string): string {
  return honoPath.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
}

function parameters(schema: z.ZodType | undefined, location: "path" | "query"): JsonSchema[] {
  if (!schema) return [];
  const object = jsonSchema(schema, "input");
  const properties = (object.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((object.required ?? []) as string[]);
  return Object.entries(properties).map(([name, property]) => ({
    name,
    in: location,
    required: location === "path" || required.has(name),
    ...(typeof property.description === "string" ? { description: property.description } : {}),
    schema: property,
  }));
}

function envelope(data: JsonSchema): JsonSchema {
  return {
    type: "object",
    required: ["error_code", "error_message", "data"],
    properties: { error_code: { const: 0 }, error_message: { type: "string" }, data },
  };
}

function operationId(spec: RouteSpec): string {
  const words = `${spec.method} ${spec.path}`.replace(/[:{}]/g, "").split(/[^A-Za-z0-9]+/).filter(
    Boolean,
  );
  return words.map((word, index) => (index === 0 ? word : word[0]!.toUpperCase() + word.slice(1)))
    .join("");
}

export function openApiDocument(routes: readonly RouteSpec[]): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const spec of routes) {
    const responses: Record<string, JsonSchema> = {
      [String(spec.successStatus ?? 200)]: spec.eventStream
        ? {
          description: "server-sent events; each event's data is JSON of this schema",
          content: {
            "text/event-stream": {
              schema: { type: "string" },
              "x-event-schema": jsonSchema(spec.response, "output"),
            },
          },
        }
        : {
          description: "success",
          content: {
            "application/json": { schema: envelope(jsonSchema(spec.response, "output")) },
          },
        },
    };
    for (const kind of new Set([...(spec.errors ?? []), ...COMMON_ERRORS])) {
      const { status, code } = API_ERRORS[kind];
      const key = String(status);
      const existing = responses[key];
      const codes = [...((existing?.["x-error-codes"] as number[] | undefined) ?? []), code];
      responses[key] = {
        description: existing ? `${existing.description}; ${kind}` : kind,
        "x-error-codes": codes,
        content: { "application/json": { schema: { $ref: "#/components/schemas/Failure" } } },
      };
    }
    const path = (paths[openApiPath(spec.path)] ??= {});
    path[spec.method] = {
      operationId: operationId(spec),
      summary: spec.summary,
      ...(spec.description ? { description: spec.description } : {}),
      tags: [...spec.tags],
      parameters: [...parameters(spec.params, "path"), ...parameters(spec.query, "query")],
      ...(spec.body
        ? {
          requestBody: {
            required: true,
            content: { "application/json": { schema: jsonSchema(spec.body, "input") } },
          },
        }
        : {}),
      responses,
    };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "DBC node HTTP API",
      version: VERSION,
      description:
        "Answers use the envelope { error_code, error_message, data }; a non-zero error_code is a failure.",
    },
    paths,
    components: {
      schemas: {
        Failure: {
          type: "object",
          required: ["error_code", "error_message"],
          properties: { error_code: { type: "integer" }, error_message: { type: "string" } },
        },
      },
    },
  };
}
