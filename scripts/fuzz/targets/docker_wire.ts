/**
 * The Docker Engine API's answers as the node reads them
 * (node_service/container/docker/wire.ts): a container inspect recorded from
 * Podman, listings, image lists and version answers, each valid, edited
 * (fields dropped, retyped, stretched) or anything else; error answers with
 * any status and body; the progress stream of a pull as JSON lines cut
 * anywhere. An engine is trusted to run containers, not to send well-formed
 * data.
 *
 * Contract: the answer readers return what they read or throw an
 * EngineError, nothing else; what they return has a known status, whole
 * positive ports and times that are numbers or null; `pullEventFrom` and
 * `engineErrorFrom` never throw; `JsonLineSplitter` never throws and gives
 * back a stream of JSON lines, however cut, value for value.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { EngineError } from "../../../node_service/container/engine.ts";
import {
  containerDetailsFrom,
  containerListingFrom,
  engineErrorFrom,
  engineInfoFrom,
  imageListingFrom,
  JsonLineSplitter,
  pullEventFrom,
} from "../../../node_service/container/docker/wire.ts";
import { chunked, type Json, mutatedBytes, mutatedJson, oddJson } from "../mutate.ts";
import { expect, type FuzzTarget, thrownBy } from "../target.ts";

const STATUSES = [
  "created",
  "running",
  "paused",
  "restarting",
  "removing",
  "exited",
  "dead",
  "unknown",
];
const ERROR_KINDS = ["invalid", "not_found", "conflict", "failed", "unavailable"];
const FIXTURE = new URL("../../../tests/fixtures/podman/inspect_running.json", import.meta.url);

const listing: Json = [{
  Id: "e056ced786be",
  Names: ["/dbc-c-abc"],
  Image: "alpine:3.20",
  State: "running",
  Labels: { "dbc.instance": "c-abc" },
  Ports: [{ PrivatePort: 22, PublicPort: 40022, Type: "tcp" }, { PrivatePort: 53, Type: "udp" }],
}];
const images: Json = [{
  Id: "sha256:abc",
  RepoTags: ["alpine:3.20", "<none>:<none>"],
  Size: 7,
  Created: 1,
}];
const version: Json = {
  Version: "4.3.1",
  ApiVersion: "1.41",
  Components: [{ Name: "Podman Engine" }],
};
const pullLines: Json[] = [
  { status: "Pulling fs layer", id: "a1", progressDetail: { current: 1, total: 10 } },
  { status: "Downloaded newer image" },
  { error: "manifest unknown", errorDetail: { message: "manifest unknown" } },
];

type Input = {
  which: number;
  answer: Json;
  status: number;
  pull: Json[];
  stream: Uint8Array;
  intact: boolean;
  cuts: number[];
};

const encoder = new TextEncoder();

export const target: FuzzTarget<Input> = {
  name: "docker.wire",
  about: "engine answers are read or refused with EngineError; pull streams split value for value",
  property: async () => {
    const inspect = JSON.parse(await Deno.readTextFile(FIXTURE)) as Json;
    const valids = [inspect, listing, images, version];
    const answers = (index: number) => {
      const valid = fc.constant(valids[index]!);
      return fc.oneof(
        { arbitrary: valid, weight: 2 },
        { arbitrary: mutatedJson(valid), weight: 6 },
        {
          arbitrary: oddJson(),
          weight: 1,
        },
      );
    };
    const lines = fc.array(
      fc.oneof(fc.constantFrom(...pullLines), mutatedJson(fc.constantFrom(...pullLines), 2)),
      { maxLength: 6 },
    );
    return {
      arbitrary: fc.nat(valids.length - 1).chain((which) =>
        fc.record({
          which: fc.constant(which),
          answer: answers(which),
          status: fc.oneof(
            fc.constantFrom(400, 404, 409, 500, 503),
            fc.integer({ min: 100, max: 599 }),
          ),
          pull: lines,
          mutateStream: fc.boolean(),
          edits: fc.array(fc.nat(), { maxLength: 3 }),
          cuts: fc.array(fc.nat(), { maxLength: 8 }),
          noise: fc.uint8Array({ maxLength: 64 }),
        }).chain((drawn) => {
          const valid = encoder.encode(drawn.pull.map((line) => JSON.stringify(line)).join("\n"));
          const stream = drawn.mutateStream
            ? mutatedBytes(fc.constant(valid), 3)
            : fc.constant(valid);
          return stream.map((bytes) => ({
            which: drawn.which,
            answer: drawn.answer,
            status: drawn.status,
            pull: drawn.pull,
            stream: bytes,
            intact: !drawn.mutateStream,
            cuts: drawn.cuts,
          }));
        })
      ),
      check: (input) => {
        const readers = [
          containerDetailsFrom,
          containerListingFrom,
          imageListingFrom,
          engineInfoFrom,
        ];
        let read: unknown;
        thrownBy(() => (read = readers[input.which]!(input.answer)), [EngineError]);
        if (read !== undefined) checkRead(input.which, read);

        const error = engineErrorFrom(input.status, input.answer, "fuzz");
        expect(
          error instanceof EngineError && ERROR_KINDS.includes(error.kind),
          "not an EngineError",
        );
        for (const line of input.pull) {
          const event = pullEventFrom(line);
          if (event) {
            expect(event.kind === "progress" || event.kind === "error", "an odd pull event");
          }
        }

        const splitter = new JsonLineSplitter();
        const values: unknown[] = [];
        for (const chunk of chunked(input.stream, input.cuts)) values.push(...splitter.push(chunk));
        values.push(...splitter.end());
        if (input.intact) {
          assert.deepEqual(values, input.pull.map((line) => JSON.parse(JSON.stringify(line))));
        }
      },
    };
  },
};

function checkRead(which: number, read: unknown): void {
  const ports = (list: { containerPort: number; hostPort: number }[]) => {
    for (const port of list) {
      expect(Number.isInteger(port.hostPort) && port.hostPort > 0, `host port ${port.hostPort}`);
      expect(Number.isFinite(port.containerPort), `container port ${port.containerPort}`);
    }
  };
  const time = (value: number | null) =>
    expect(value === null || Number.isFinite(value), `time ${value}`);
  if (which === 0) {
    const details = read as ReturnType<typeof containerDetailsFrom>;
    expect(STATUSES.includes(details.status), `status ${details.status}`);
    ports(details.ports);
    time(details.startedAt);
    time(details.finishedAt);
  } else if (which === 1) {
    for (const item of read as ReturnType<typeof containerListingFrom>) {
      expect(STATUSES.includes(item.status), `status ${item.status}`);
      ports(item.ports);
    }
  } else if (which === 2) {
    for (const image of read as ReturnType<typeof imageListingFrom>) time(image.createdAt);
  }
}
