/**
 * A FAT12 filesystem image holding a few files in its root directory, built
 * in memory: bytes in, bytes out. Enough for a cloud-init seed disk
 * (nocloud_seed.ts) without mkfs.fat or mtools on the node, which may run
 * only virsh, nvidia-smi, qemu-img and ss.
 *
 * The layout is the classic one (Microsoft's "FAT: General Overview of
 * On-Disk Format"): a boot sector with the BIOS parameter block, two copies
 * of the file allocation table, a fixed root directory, then the data
 * clusters. Every file gets VFAT long-name entries, so names such as
 * `meta-data` read back as they were written; the 8.3 alias beside them is
 * generated (`METADA~1`) and only old DOS tools see it.
 *
 * The image is sized to fit: the smallest cluster that keeps the cluster
 * count within FAT12's limit, files stored contiguously from cluster 2, and
 * the total rounded up to a whole track (mtools refuses other sizes).
 *
 * @example
 * ```ts
 * const image = buildFatImage(
 *   [{ name: "hello.txt", data: new TextEncoder().encode("hi\n") }],
 *   { label: "HELLO" },
 * );
 * await Deno.writeFile("/tmp/hello.img", image); // mdir -i /tmp/hello.img ::
 * ```
 */

export type FatFile = { name: string; data: Uint8Array };
export type FatImageOptions = {
  /** Volume label: 1-11 of A-Z, 0-9, '_' and '-'. */
  label: string;
  /** The volume serial number; any 32-bit value. */
  volumeId?: number;
};

/** A file list or label the image cannot hold; thrown before any byte is written. */
export class FatImageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FatImageError";
  }
}

const SECTOR_BYTES = 512;
const RESERVED_SECTORS = 1;
const FAT_COUNT = 2;
/** A fixed (non-removable) disk. */
const MEDIA_DESCRIPTOR = 0xf8;
/** Linux, mtools and fsck.fat all read a volume with fewer clusters than 4085 as FAT12. */
const FAT12_MAX_CLUSTERS = 4084;
/** 32 KiB clusters: with FAT12's cluster limit, about 128 MiB in all. */
const MAX_SECTORS_PER_CLUSTER = 64;
const FIRST_DATA_CLUSTER = 2;
const END_OF_CHAIN = 0xfff;
const DIR_ENTRY_BYTES = 32;
const ENTRIES_PER_SECTOR = SECTOR_BYTES / DIR_ENTRY_BYTES;
const LFN_CHARS_PER_ENTRY = 13;
/** Disk geometry only mtools looks at: it wants the total a whole number of tracks. */
const SECTORS_PER_TRACK = 32;
const HEADS = 2;
const ATTR_ARCHIVE = 0x20;
const ATTR_VOLUME_LABEL = 0x08;
const ATTR_LONG_NAME = 0x0f;
const LAST_LONG_ENTRY = 0x40;
/** 2000-01-01 00:00:00 in DOS form: the image is the same for the same input. */
const DOS_DATE = ((2000 - 1980) << 9) | (1 << 5) | 1;
const DOS_TIME = 0;

const LONG_NAME = /^[A-Za-z0-9._-]{1,255}$/;
const LABEL = /^[A-Z0-9_-]{1,11}$/;

type Layout = {
  sectorsPerCluster: number;
  fatSectors: number;
  rootEntries: number;
  totalSectors: number;
  /** First sector of the data region (cluster 2). */
  dataStart: number;
};

/** A FAT12 image holding `files` in its root directory; throws {@link FatImageError}. */
export function buildFatImage(files: readonly FatFile[], options: FatImageOptions): Uint8Array {
  validate(files, options);
  const rootEntries = roundUp(
    1 + files.reduce((sum, file) => sum + longEntryCount(file.name) + 1, 0),
    ENTRIES_PER_SECTOR,
  );
  const layout = planLayout(files.map((file) => file.data.length), rootEntries);
  const image = new Uint8Array(layout.totalSectors * SECTOR_BYTES);
  const view = new DataView(image.buffer);
  writeBootSector(view, layout, options);

  const clusterBytes = layout.sectorsPerCluster * SECTOR_BYTES;
  const fat = new Uint8Array(layout.fatSectors * SECTOR_BYTES);
  // Entries 0 and 1 are reserved: the media byte, then all ones.
  setFat12(fat, 0, 0xf00 | MEDIA_DESCRIPTOR);
  setFat12(fat, 1, END_OF_CHAIN);

  const root = new Uint8Array(rootEntries * DIR_ENTRY_BYTES);
  let entry = 0;
  root.set(shortEntry(padName(options.label), ATTR_VOLUME_LABEL, 0, 0), 0);
  entry++;
  let nextCluster = FIRST_DATA_CLUSTER;
  for (const [index, file] of files.entries()) {
    const clusters = Math.ceil(file.data.length / clusterBytes);
    // An empty file owns no cluster: its entry says cluster 0.
    const first = clusters === 0 ? 0 : nextCluster;
    for (let n = 0; n < clusters; n++) {
      const cluster = nextCluster + n;
      setFat12(fat, cluster, n === clusters - 1 ? END_OF_CHAIN : cluster + 1);
    }
    const offset = (layout.dataStart + (first - FIRST_DATA_CLUSTER) * layout.sectorsPerCluster) *
      SECTOR_BYTES;
    if (clusters > 0) image.set(file.data, offset);
    nextCluster += clusters;

    const alias = shortAlias(file.name, index + 1);
    for (const long of longEntries(file.name, checksum(alias))) {
      root.set(long, entry * DIR_ENTRY_BYTES);
      entry++;
    }
    root.set(shortEntry(alias, ATTR_ARCHIVE, first, file.data.length), entry * DIR_ENTRY_BYTES);
    entry++;
  }

  for (let copy = 0; copy < FAT_COUNT; copy++) {
    image.set(fat, (RESERVED_SECTORS + copy * layout.fatSectors) * SECTOR_BYTES);
  }
  image.set(root, (RESERVED_SECTORS + FAT_COUNT * layout.fatSectors) * SECTOR_BYTES);
  return image;
}

function validate(files: readonly FatFile[], options: FatImageOptions): void {
  if (!LABEL.test(options.label)) {
    throw new FatImageError(`bad volume label ${JSON.stringify(options.label)}`);
  }
  const seen = new Set<string>();
  for (const file of files) {
    if (!LONG_NAME.test(file.name) || file.name === "." || file.name === "..") {
      throw new FatImageError(`bad file name ${JSON.stringify(file.name)}`);
    }
    // FAT names are case-insensitive: two names differing in case are one file.
    const folded = file.name.toUpperCase();
    if (seen.has(folded)) throw new FatImageError(`file ${file.name} given twice`);
    seen.add(folded);
  }
  if (files.length > 9999) throw new FatImageError("too many files for one root directory");
}

/** The smallest layout that holds files of these sizes, whole tracks in all. */
function planLayout(sizes: readonly number[], rootEntries: number): Layout {
  const rootSectors = rootEntries / ENTRIES_PER_SECTOR;
  for (let spc = 1; spc <= MAX_SECTORS_PER_CLUSTER; spc *= 2) {
    const clusterBytes = spc * SECTOR_BYTES;
    let clusters = sizes.reduce((sum, size) => sum + Math.ceil(size / clusterBytes), 0);
    // Rounding up to whole tracks adds clusters, which may need a longer FAT, which moves the
    // data region: settle on a FAT length that covers every cluster the total then holds.
    for (;;) {
      const fatSectors = fatSectorsFor(clusters);
      const overhead = RESERVED_SECTORS + FAT_COUNT * fatSectors + rootSectors;
      const totalSectors = roundUp(overhead + clusters * spc, SECTORS_PER_TRACK);
      // How the kernel and fsck count clusters: whole clusters after the data start.
      const fits = Math.floor((totalSectors - overhead) / spc);
      if (fatSectorsFor(fits) > fatSectors) {
        clusters = fits;
        continue;
      }
      if (fits > FAT12_MAX_CLUSTERS) break;
      return {
        sectorsPerCluster: spc,
        fatSectors,
        rootEntries,
        totalSectors,
        dataStart: overhead,
      };
    }
  }
  throw new FatImageError("the files are too large for a FAT12 image");
}

/** FAT12 packs two 12-bit entries in three bytes; entries 0 and 1 are reserved. */
function fatSectorsFor(clusters: number): number {
  return Math.max(
    1,
    Math.ceil(Math.ceil(((clusters + FIRST_DATA_CLUSTER) * 3) / 2) / SECTOR_BYTES),
  );
}

function setFat12(fat: Uint8Array, cluster: number, value: number): void {
  const offset = Math.floor((cluster * 3) / 2);
  if (cluster % 2 === 0) {
    fat[offset] = value & 0xff;
    fat[offset + 1] = (fat[offset + 1]! & 0xf0) | ((value >> 8) & 0x0f);
  } else {
    fat[offset] = (fat[offset]! & 0x0f) | ((value & 0x0f) << 4);
    fat[offset + 1] = (value >> 4) & 0xff;
  }
}

function writeBootSector(view: DataView, layout: Layout, options: FatImageOptions): void {
  const ascii = (offset: number, text: string) => {
    for (let i = 0; i < text.length; i++) view.setUint8(offset + i, text.charCodeAt(i));
  };
  // A short jump over the parameter block: probes (blkid, the kernel) check for it.
  view.setUint8(0, 0xeb);
  view.setUint8(1, 0x3c);
  view.setUint8(2, 0x90);
  // The OEM name Microsoft recommends: some old FAT drivers look at it.
  ascii(3, "MSWIN4.1");
  view.setUint16(11, SECTOR_BYTES, true);
  view.setUint8(13, layout.sectorsPerCluster);
  view.setUint16(14, RESERVED_SECTORS, true);
  view.setUint8(16, FAT_COUNT);
  view.setUint16(17, layout.rootEntries, true);
  // The 16-bit total when it fits, else the 32-bit one: never both.
  if (layout.totalSectors < 0x10000) view.setUint16(19, layout.totalSectors, true);
  else view.setUint32(32, layout.totalSectors, true);
  view.setUint8(21, MEDIA_DESCRIPTOR);
  view.setUint16(22, layout.fatSectors, true);
  view.setUint16(24, SECTORS_PER_TRACK, true);
  view.setUint16(26, HEADS, true);
  view.setUint32(28, 0, true);
  view.setUint8(36, 0x80);
  // Extended boot signature: the serial, label and type below are present.
  view.setUint8(38, 0x29);
  view.setUint32(39, (options.volumeId ?? 0x44424331) >>> 0, true);
  ascii(43, padName(options.label));
  ascii(54, "FAT12   ");
  // Boot code for a BIOS that tries this disk: int 0x18 (on to the next boot device), then halt.
  view.setUint8(62, 0xcd);
  view.setUint8(63, 0x18);
  view.setUint8(64, 0xeb);
  view.setUint8(65, 0xfe);
  view.setUint8(510, 0x55);
  view.setUint8(511, 0xaa);
}

/** An 11-byte 8.3 directory entry. */
function shortEntry(name11: string, attributes: number, cluster: number, size: number) {
  const entry = new Uint8Array(DIR_ENTRY_BYTES);
  const view = new DataView(entry.buffer);
  for (let i = 0; i < 11; i++) entry[i] = name11.charCodeAt(i);
  entry[11] = attributes;
  view.setUint16(14, DOS_TIME, true);
  view.setUint16(16, DOS_DATE, true);
  view.setUint16(18, DOS_DATE, true);
  view.setUint16(22, DOS_TIME, true);
  view.setUint16(24, DOS_DATE, true);
  view.setUint16(26, cluster, true);
  view.setUint32(28, size, true);
  return entry;
}

/**
 * The 8.3 alias of a long name: up to 6 letters or digits of the base, `~`,
 * the file's ordinal, and up to 3 of the extension; `name11` form (space-padded,
 * no dot). The ordinal makes aliases unique without comparing them.
 */
function shortAlias(name: string, ordinal: number): string {
  const dot = name.lastIndexOf(".");
  const clean = (text: string) => text.toUpperCase().replace(/[^A-Z0-9]/g, "");
  const base = clean(dot > 0 ? name.slice(0, dot) : name) || "FILE";
  const extension = dot > 0 ? clean(name.slice(dot + 1)).slice(0, 3) : "";
  const tail = `~${ordinal}`;
  return `${base.slice(0, 8 - tail.length)}${tail}`.padEnd(8) + extension.padEnd(3);
}

function padName(label: string): string {
  return label.padEnd(11);
}

function longEntryCount(name: string): number {
  return Math.ceil(name.length / LFN_CHARS_PER_ENTRY);
}

/** The checksum of an alias that each of its long-name entries carries. */
function checksum(name11: string): number {
  let sum = 0;
  for (let i = 0; i < 11; i++) {
    sum = ((((sum & 1) << 7) | (sum >> 1)) + name11.charCodeAt(i)) & 0xff;
  }
  return sum;
}

/**
 * The long-name entries of `name`, in the order they are written: they come
 * before the alias, last part first, the first of them marked "last". Each
 * holds 13 UCS-2 characters in three runs (5, 6, 2); after the name comes
 * one NUL, then 0xFFFF padding.
 */
function longEntries(name: string, aliasChecksum: number): Uint8Array[] {
  const count = longEntryCount(name);
  const entries: Uint8Array[] = [];
  for (let part = count; part >= 1; part--) {
    const entry = new Uint8Array(DIR_ENTRY_BYTES);
    const view = new DataView(entry.buffer);
    entry[0] = part | (part === count ? LAST_LONG_ENTRY : 0);
    entry[11] = ATTR_LONG_NAME;
    entry[13] = aliasChecksum;
    const slots = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];
    for (const [i, offset] of slots.entries()) {
      const at = (part - 1) * LFN_CHARS_PER_ENTRY + i;
      const unit = at < name.length ? name.charCodeAt(at) : at === name.length ? 0 : 0xffff;
      view.setUint16(offset, unit, true);
    }
    entries.push(entry);
  }
  return entries;
}

function roundUp(value: number, multiple: number): number {
  return Math.ceil(value / multiple) * multiple;
}
