/**
 * The FAT12 writer behind the NoCloud seed disk
 * (node_service/vm/cloud_init/fat_image.ts): file lists with valid names,
 * names edited or random, sizes from empty through cluster and FAT-size
 * boundaries to too large, any label and volume id. Contract: it refuses
 * with a FatImageError, nothing else; an image it writes is read back by an
 * independent FAT12 reader (below) with the same label, every file under its
 * long name with its exact content, both FAT copies equal, clusters within
 * FAT12's limit and the size a whole number of tracks (mtools needs that).
 */
import fc from "fast-check";
import {
  buildFatImage,
  type FatFile,
  FatImageError,
} from "../../../node_service/vm/cloud_init/fat_image.ts";
import { mutatedText, oddString } from "../mutate.ts";
import { expect, type FuzzTarget, thrownBy } from "../target.ts";

const SECTOR = 512;
const FAT12_MAX_CLUSTERS = 4084;
const SECTORS_PER_TRACK = 32;
const validName = fc.stringMatching(/^[A-Za-z0-9._-]{1,40}$/);
const sizes = fc.oneof(
  { arbitrary: fc.nat(3000), weight: 20 },
  { arbitrary: fc.constantFrom(0, 511, 512, 513, 2048, 4096, 4097), weight: 2 },
  // Where the writer must take larger clusters (FAT12 holds 4084 clusters at most).
  { arbitrary: fc.constantFrom(4084 * 512 - 1024, 4084 * 512 + 1, 2 * 4084 * 512 + 1), weight: 1 },
);
type Input = {
  files: { name: string; size: number; fill: number }[];
  label: string;
  volumeId?: number;
};

export const target: FuzzTarget<Input> = {
  name: "cloud_init.fat",
  about:
    "buildFatImage refuses with FatImageError or writes an image that reads back file for file",
  property: () => ({
    arbitrary: fc.record({
      files: fc.array(
        fc.record({
          name: fc.oneof(
            { arbitrary: validName, weight: 6 },
            { arbitrary: mutatedText(validName, 2), weight: 2 },
            { arbitrary: oddString(20), weight: 1 },
            { arbitrary: fc.constantFrom(".", "..", "a".repeat(255), "a".repeat(256)), weight: 1 },
          ),
          size: sizes,
          fill: fc.nat(255),
        }),
        { maxLength: 5 },
      ),
      label: fc.oneof(
        fc.constant("CIDATA"),
        fc.stringMatching(/^[A-Z0-9_-]{1,11}$/),
        oddString(14),
      ),
      volumeId: fc.option(fc.oneof(fc.nat(), fc.integer()), { nil: undefined }),
    }, { requiredKeys: ["files", "label"] }),
    check: (input) => {
      const files: FatFile[] = input.files.map((file, index) => ({
        name: file.name,
        data: content(file.size, file.fill + index),
      }));
      let image: Uint8Array | undefined;
      thrownBy(() => {
        image = buildFatImage(files, {
          label: input.label,
          ...(input.volumeId === undefined ? {} : { volumeId: input.volumeId }),
        });
      }, [FatImageError]);
      if (!image) return;
      const read = readFat12(image);
      expect(read.label === input.label, `label ${JSON.stringify(read.label)}`);
      expect(read.files.length === files.length, `${read.files.length} files for ${files.length}`);
      for (const [index, file] of files.entries()) {
        const found = read.files[index]!;
        expect(
          found.name === file.name,
          `name ${JSON.stringify(found.name)} for ${JSON.stringify(file.name)}`,
        );
        expect(
          found.data.length === file.data.length,
          `${found.data.length} bytes for ${file.data.length}`,
        );
        expect(sameBytes(found.data, file.data), "the content differs");
      }
    },
  }),
};

/** Bytes that differ from sector to sector, so a misplaced cluster shows. */
function content(size: number, seed: number): Uint8Array {
  const data = new Uint8Array(size).fill(seed & 0xff);
  for (let at = 0; at < size; at += SECTOR) data[at] = (seed + at / SECTOR) & 0xff;
  if (size > 0) data[size - 1] = (seed * 31) & 0xff;
  return data;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let at = 0; at < a.length; at++) if (a[at] !== b[at]) return false;
  return true;
}

type ReadFile = { name: string; data: Uint8Array };

/** Reads a FAT12 image's label and root-directory files; throws when it is malformed. */
function readFat12(image: Uint8Array): { label: string; files: ReadFile[] } {
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const ascii = (at: number, length: number) =>
    String.fromCharCode(...image.subarray(at, at + length));
  expect(view.getUint16(11, true) === SECTOR, "sector size");
  expect(view.getUint8(510) === 0x55 && view.getUint8(511) === 0xaa, "boot signature");
  const perCluster = view.getUint8(13);
  const reserved = view.getUint16(14, true);
  const fats = view.getUint8(16);
  const rootEntries = view.getUint16(17, true);
  const total = view.getUint16(19, true) || view.getUint32(32, true);
  const fatSectors = view.getUint16(22, true);
  expect(total * SECTOR === image.length, `${total} sectors in ${image.length} bytes`);
  expect(total % SECTORS_PER_TRACK === 0, "not a whole number of tracks");
  const fatStart = reserved * SECTOR;
  const fat = image.subarray(fatStart, fatStart + fatSectors * SECTOR);
  for (let copy = 1; copy < fats; copy++) {
    const other = image.subarray(
      fatStart + copy * fatSectors * SECTOR,
      fatStart + (copy + 1) * fatSectors * SECTOR,
    );
    expect(other.every((byte, at) => byte === fat[at]), "the FAT copies differ");
  }
  const rootStart = fatStart + fats * fatSectors * SECTOR;
  const dataStart = rootStart + rootEntries * 32;
  const clusters = Math.floor((image.length - dataStart) / (perCluster * SECTOR));
  expect(clusters <= FAT12_MAX_CLUSTERS, `${clusters} clusters: not FAT12`);
  expect(Math.ceil((clusters + 2) * 1.5) <= fatSectors * SECTOR, "the FAT is too short");
  const next = (cluster: number) => {
    const at = Math.floor(cluster * 3 / 2);
    const pair = fat[at]! | (fat[at + 1]! << 8);
    return cluster % 2 === 0 ? pair & 0xfff : pair >> 4;
  };
  const label = ascii(43, 11).trimEnd();
  let volumeLabel: string | undefined;
  const files: ReadFile[] = [];
  let longName: string[] = [];
  for (let entry = 0; entry < rootEntries; entry++) {
    const at = rootStart + entry * 32;
    if (image[at] === 0) break;
    const attributes = image[at + 11]!;
    if (attributes === 0x0f) {
      const units = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30].map((offset) =>
        view.getUint16(at + offset, true)
      );
      const part = String.fromCharCode(...units.filter((unit) => unit !== 0 && unit !== 0xffff));
      longName = [part, ...longName];
      continue;
    }
    if (attributes & 0x08) {
      volumeLabel = ascii(at, 11).trimEnd();
      continue;
    }
    const size = view.getUint32(at + 28, true);
    let cluster = view.getUint16(at + 26, true);
    const data = new Uint8Array(size);
    let filled = 0;
    let hops = 0;
    while (filled < size) {
      expect(cluster >= 2 && cluster < clusters + 2, `cluster ${cluster} out of the data region`);
      const start = dataStart + (cluster - 2) * perCluster * SECTOR;
      const chunk = image.subarray(start, start + Math.min(perCluster * SECTOR, size - filled));
      data.set(chunk, filled);
      filled += chunk.length;
      cluster = next(cluster);
      expect(++hops <= clusters, "a cluster chain that loops");
    }
    expect(size === 0 || cluster >= 0xff8, "a chain that does not end where the file does");
    files.push({ name: longName.join(""), data });
    longName = [];
  }
  expect(volumeLabel === label, "the label entry and the boot sector disagree");
  return { label, files };
}
