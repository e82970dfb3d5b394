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

/** The security requirements each kind of route has (alternatives: any one suffices). */
const SECURITY: Record<NonNullable<RouteSpec["auth"]>, Array<Record<string, string[]>>> = {
  wallet: [{ walletSignature: [] }],
  renter: [{ walletSignature: [] }, { delegatedSession: [] }],
  operator: [{ operatorToken: [] }],
};

const SECURITY_SCHEMES = {
  walletSignature: {
    type: "apiKey",
    in: "header",
    name: "X-DBC-Sign",
    description:
      "A Substrate wallet's signature (sr25519 or ed25519, hex; raw, or <Bytes>-wrapped " +
      "as wallet extensions sign) of the canonical request `dbc-request-v1\\n<METHOD>\\n" +
      "<path?query>\\n<account>\\n<sha256 of the canonical JSON body>\\n<timestamp ms>\\n<nonce>`, " +
      "sent with X-DBC-Wallet, X-DBC-Nonce (used once) and X-DBC-Timestamp; a multisig account " +
      "sends X-DBC-Multisig-Wallets, -Threshold and -Signs instead.",
  },
  delegatedSession: {
    type: "apiKey",
    in: "header",
    name: "X-DBC-Session",
    description: "A session the renter made on the machine (POST /api/v1/sessions); it operates " +
      "the renter's instances there until it expires or is revoked.",
  },
  operatorToken: {
    type: "http",
    scheme: "bearer",
    description: "The content of <data_dir>/operator.token; from the loopback interface only.",
  },
};

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
      ...(spec.auth ? { security: SECURITY[spec.auth] } : {}),
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
      securitySchemes: SECURITY_SCHEMES,
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
