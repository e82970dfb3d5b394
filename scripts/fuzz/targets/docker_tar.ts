/**
 * The tar writer that copies files (a renter's SSH keys) into a container
 * before it starts: entries with any path, mode, owner and content. Contract:
 * `tarArchive` refuses what ustar cannot hold or what would leave the target
 * directory (absolute paths, `..`, names over 100 bytes, numbers over their
 * fields) with a RangeError, nothing else; what it writes is whole 512-byte
 * blocks, every header's checksum holds, and read back it gives each entry's
 * name, type, mode, owner and content as given, then the two zero blocks.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { tarArchive, type TarEntry } from "../../../node_service/container/docker/tar.ts";
import { oddString } from "../mutate.ts";
import { expect, type FuzzTarget, thrownBy } from "../target.ts";

const BLOCK = 512;
// A leading byte-order mark is part of a name here, not a marker to drop.
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

const paths = fc.oneof(
  fc.constantFrom(
    "home",
    "home/dbc/.ssh",
    "home/dbc/.ssh/authorized_keys",
    "a/../b",
    "/etc/x",
    "a/..",
  ),
  fc.stringMatching(/^[a-z0-9._-]{1,20}(\/[a-z0-9._-]{1,20}){0,4}$/),
  oddString(120),
);
const ids = fc.oneof(fc.nat(65535), fc.constantFrom(0, 1000, 2 ** 21 - 1, 2 ** 21, 2 ** 31));
const entries: fc.Arbitrary<TarEntry> = fc.oneof(
  fc.record({
    type: fc.constant("dir" as const),
    path: paths,
    mode: fc.oneof(fc.constantFrom(0o700, 0o755), fc.integer()),
    uid: ids,
    gid: ids,
  }, { requiredKeys: ["type", "path", "mode"] }),
  fc.record({
    type: fc.constant("file" as const),
    path: paths,
    mode: fc.oneof(fc.constantFrom(0o600, 0o644), fc.integer()),
    content: fc.uint8Array({ maxLength: 1100 }),
    uid: ids,
    gid: ids,
  }, { requiredKeys: ["type", "path", "mode", "content"] }),
);

type Input = { entries: TarEntry[]; mtime: number };

export const target: FuzzTarget<Input> = {
  name: "docker.tar",
  about: "tarArchive refuses with RangeError or writes an archive that reads back as given",
  property: () => ({
    arbitrary: fc.record({
      entries: fc.array(entries, { maxLength: 4 }),
      mtime: fc.oneof(fc.constant(0), fc.nat(), fc.constant(8 ** 11)),
    }),
    check: ({ entries, mtime }) => {
      let archive: Uint8Array | undefined;
      thrownBy(() => (archive = tarArchive(entries, mtime)), [RangeError]);
      if (!archive) return;
      expect(archive.length % BLOCK === 0, `${archive.length} bytes: not whole blocks`);
      let offset = 0;
      for (const entry of entries) {
        const header = archive.subarray(offset, offset + BLOCK);
        const field = (start: number, length: number) =>
          decoder.decode(header.subarray(start, start + length)).replace(/\0.*$/s, "");
        let sum = 0;
        for (const [index, byte] of header.entries()) {
          sum += index >= 148 && index < 156 ? 32 : byte;
        }
        expect(parseInt(field(148, 8), 8) === sum, "a header's checksum does not hold");
        const name = decoder.decode(header.subarray(0, 100)).replace(/\0+$/, "");
        const given = entry.type === "dir" && !entry.path.endsWith("/")
          ? `${entry.path}/`
          : entry.path;
        // Names are written as UTF-8: a lone surrogate can only come back as U+FFFD.
        const expectedName = decoder.decode(new TextEncoder().encode(given));
        expect(
          name === expectedName,
          `name ${JSON.stringify(name)} for ${JSON.stringify(expectedName)}`,
        );
        expect(
          !name.startsWith("/") && !name.split("/").includes(".."),
          "a path that leaves the target",
        );
        expect(field(156, 1) === (entry.type === "file" ? "0" : "5"), "the wrong type");
        expect(parseInt(field(100, 8), 8) === (entry.mode & 0o7777), "the wrong mode");
        expect(parseInt(field(108, 8), 8) === (entry.uid ?? 0), "the wrong owner");
        const size = parseInt(field(124, 12), 8);
        offset += BLOCK;
        if (entry.type === "file") {
          expect(size === entry.content.length, `size ${size} for ${entry.content.length} bytes`);
          assert.deepEqual([...archive.subarray(offset, offset + size)], [...entry.content]);
          offset += Math.ceil(size / BLOCK) * BLOCK;
        }
      }
      expect(archive.length - offset === 2 * BLOCK, "not ended by two blocks");
      expect(archive.subarray(offset).every((byte) => byte === 0), "the end blocks are not zero");
    },
  }),
};
