/**
 * The FAT12 writer, checked by the tools that know the format: fsck.fat
 * finds no error, mtools reads every file back byte-exact under its long
 * name and the label as written, blkid (which cloud-init asks) calls it
 * vfat. Sizes at the edges: no files, an empty file, a cluster exactly
 * full, a FAT that spills into a second sector, clusters of several sectors.
 *
 * Fails (does not skip) when the tools are missing: scripts/system/test_setup.sh installs them.
 */
import assert from "node:assert/strict";
import {
  buildFatImage,
  type FatFile,
  FatImageError,
} from "../../../../node_service/vm/cloud_init/fat_image.ts";
import { scratchDir } from "../../../helpers.ts";
import { run } from "../libvirt_fixture.ts";

const encoder = new TextEncoder();

/** Bytes that differ from place to place, so a misplaced cluster shows. */
function pattern(length: number, seed = 7): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed + (i >> 9)) & 0xff;
  return bytes;
}

async function tool(program: string, args: string[]) {
  try {
    return await run(program, args);
  } catch (error) {
    throw new Error(
      `${program} cannot run (${
        (error as Error).message
      }): run scripts/system/test_setup.sh as root`,
    );
  }
}

/** Writes the image, runs fsck.fat -n on it, and checks every file and the label with mtools. */
async function checkImage(dir: string, files: FatFile[], label: string): Promise<string> {
  const path = `${dir}/image-${crypto.randomUUID().slice(0, 8)}.img`;
  const image = buildFatImage(files, { label });
  assert.equal(image.length % (32 * 512), 0, "whole tracks");
  await Deno.writeFile(path, image);

  const fsck = await tool("fsck.fat", ["-n", "-v", path]);
  assert.equal(fsck.code, 0, `fsck.fat: ${fsck.stdout}${fsck.stderr}`);
  assert.doesNotMatch(fsck.stdout + fsck.stderr, /warning|error|differ|invalid|bad/i);
  assert.match(fsck.stdout, /2 FATs, 12 bit entries/);

  const listing = await tool("mdir", ["-i", path, "-a", "::"]);
  assert.equal(listing.code, 0, listing.stderr);
  assert.match(listing.stdout, new RegExp(`Volume in drive : is ${label}\\b`));
  for (const file of files) {
    assert.match(listing.stdout, new RegExp(` ${file.name.replaceAll(".", "\\.")}$`, "m"));
    const copy = `${path}.${file.name}`;
    const copied = await tool("mcopy", ["-n", "-i", path, `::/${file.name}`, copy]);
    assert.equal(copied.code, 0, copied.stderr);
    assert.deepEqual(await Deno.readFile(copy), file.data, `${file.name} reads back as written`);
  }
  const labelled = await tool("mlabel", ["-i", path, "-s", "::"]);
  assert.equal(labelled.stdout.trim(), `Volume label is ${label}`);
  return path;
}

Deno.test("a FAT image passes fsck.fat, and its files read back byte-exact under their long names", async () => {
  const dir = await scratchDir("fat-image");
  try {
    const files = [
      { name: "meta-data", data: encoder.encode('{"instance-id": "vm-abc"}\n') },
      { name: "user-data", data: encoder.encode("#cloud-config\n{}\n") },
      { name: "empty", data: new Uint8Array() },
      { name: "several-clusters.bin", data: pattern(5000) },
      // 52 characters: four long-name entries, the last one partly padded.
      { name: "a-name-long-enough-to-need-four-long-name-entries.txt", data: pattern(1) },
    ];
    const path = await checkImage(dir, files, "CIDATA");
    const text = await tool("mtype", ["-i", path, "::/user-data"]);
    assert.equal(text.stdout, "#cloud-config\n{}\n");

    // cloud-init finds its seed through blkid, by type and label.
    const probe = await tool("blkid", ["-p", "-o", "export", path]);
    assert.equal(probe.code, 0, probe.stderr);
    assert.match(probe.stdout, /^TYPE=vfat$/m);
    assert.match(probe.stdout, /^LABEL=CIDATA$/m);
    assert.match(probe.stdout, /^VERSION=FAT12$/m);

    assert.deepEqual(
      buildFatImage(files, { label: "CIDATA" }),
      buildFatImage(files, { label: "CIDATA" }),
      "the same files make the same image",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("FAT images at the edges of the layout: no files, exact clusters, long FATs, big clusters", async () => {
  const dir = await scratchDir("fat-edges");
  try {
    await checkImage(dir, [], "EMPTY");
    await checkImage(dir, [{ name: "zero", data: new Uint8Array() }], "Z");
    for (const size of [1, 511, 512, 513, 1024]) {
      await checkImage(dir, [{ name: `f${size}`, data: pattern(size) }], "SIZES");
    }
    // 341 clusters fill a FAT sector of 512 bytes (12 bits each, two reserved): cross that line.
    for (const clusters of [338, 339, 340, 341, 342]) {
      await checkImage(dir, [{ name: "fat-edge", data: pattern(clusters * 512, clusters) }], "FAT");
    }
    // Beyond 4084 one-sector clusters FAT12 needs bigger ones.
    const path = await checkImage(
      dir,
      [
        { name: "big.bin", data: pattern(2_500_000) },
        { name: "small.txt", data: encoder.encode("after the big one\n") },
      ],
      "BIG",
    );
    const fsck = await tool("fsck.fat", ["-n", "-v", path]);
    assert.match(fsck.stdout, /\b1024 bytes per cluster\b/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("names and labels a FAT image cannot hold are refused", () => {
  const one = (name: string) => [{ name, data: new Uint8Array() }];
  for (const name of ["", ".", "..", "a/b", "a b", "a:b", "é", "x".repeat(256)]) {
    assert.throws(() => buildFatImage(one(name), { label: "OK" }), FatImageError, name);
  }
  assert.throws(
    () => buildFatImage([...one("user-data"), ...one("USER-DATA")], { label: "OK" }),
    /given twice/,
  );
  for (const label of ["", "cidata", "TWELVE-CHARS", "A B"]) {
    assert.throws(() => buildFatImage([], { label }), FatImageError, label);
  }
  assert.throws(
    () => buildFatImage([{ name: "huge", data: new Uint8Array(200 * 2 ** 20) }], { label: "X" }),
    /too large/,
  );
});
