/**
 * The image-server part of a GPU node for the tests: the real handlers
 * (node_service/image_servers/) over a real image store (SQLite, files,
 * qemu-img) and the real request process, with the operator's servers given
 * as `id=URL` and loopback allowed (the test servers listen there). The VM
 * records the transfers read (owner, state, snapshots) are a table the test
 * fills; the disks behind them are real qcow2 files.
 */
import {
  loadConfig,
  openDatabase,
  silentLogger,
  type Vm,
  type VmSnapshot,
} from "../../../mod/mod.ts";
import { EventLog } from "../../../node_service/event_log.ts";
import { SERVICE_MIGRATIONS } from "../../../node_service/migrations.ts";
import { startImageServers } from "../../../node_service/image_servers/mod.ts";
import { ImageStore } from "../../../node_service/vm/mod.ts";
import { scratchDir } from "../../helpers.ts";
import { sha256File } from "../vm/libvirt_fixture.ts";
import type { Nginx } from "./nginx_fixture.ts";

export const MIB = 1024 * 1024;

export type VmRow = { id: string; owner: string; state: Vm["state"] };

export type Setting = {
  dir: string;
  imageDir: string;
  vmDir: string;
  store: ImageStore;
  vms: Map<string, VmRow>;
  /** The VMs using each stored image (its key), as the VM store would say. */
  users: Map<string, string[]>;
  /** The internal snapshots of each VM's disk, by VM id. */
  snapshots: Map<string, string[]>;
  started: ReturnType<typeof startImageServers>;
  events: EventLog;
  call<M extends keyof ReturnType<typeof startImageServers>["handlers"]>(
    method: M,
    params: Parameters<ReturnType<typeof startImageServers>["handlers"][M]>[0],
  ): Promise<Awaited<ReturnType<ReturnType<typeof startImageServers>["handlers"][M]>>>;
};

/** The image servers of a node whose operator names `servers` (id=URL) and allows loopback. */
export async function withImageServers(
  servers: string[],
  work: (setting: Setting) => Promise<void>,
  env: Record<string, string> = {},
): Promise<void> {
  const dir = await scratchDir("image-transfers");
  const opened = await openImageServers(dir, servers, env);
  try {
    await work(opened.setting);
  } finally {
    await opened.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Starts the image servers of the node whose files are in `dir` (made anew, or left by an
 * earlier start: a restart); `close` stops them as the node service does, keeping the files.
 */
export async function openImageServers(
  dir: string,
  servers: string[],
  env: Record<string, string> = {},
): Promise<{ setting: Setting; close(): Promise<void> }> {
  const { config } = loadConfig({
    args: [],
    env: { DBC_IMAGE_SERVERS: servers.join(","), DBC_IMAGE_SERVER_PRIVATE: "true", ...env },
    cwd: dir,
  });
  const db = openDatabase(`${dir}/node.db`, SERVICE_MIGRATIONS);
  const events = new EventLog(db, Date.now);
  const vms = new Map<string, VmRow>();
  const snapshots = new Map<string, string[]>();
  const imageDir = `${dir}/images`;
  const vmDir = `${dir}/vms`;
  await Deno.mkdir(vmDir, { recursive: true });
  const users = new Map<string, string[]>();
  const store = new ImageStore({
    db,
    imageDir,
    now: Date.now,
    usersOf: (key) => users.get(key) ?? [],
  });
  const started = startImageServers({
    config,
    db,
    images: store,
    vms: {
      summaries: () => [...vms.values()] as unknown as Vm[],
      snapshotList: (id: string) =>
        (snapshots.get(id) ?? []).map((name) => ({ name }) as unknown as VmSnapshot),
    },
    vmDir,
    events,
    now: Date.now,
    log: silentLogger,
  });
  const setting: Setting = {
    dir,
    imageDir,
    vmDir,
    store,
    vms,
    users,
    snapshots,
    started,
    events,
    // deno-lint-ignore no-explicit-any
    call: async (method, params) => await (started.handlers[method] as any)(params, {}),
  };
  return {
    setting,
    async close() {
      await started.stop();
      await store.close();
      db.close();
    },
  };
}

/** A raw disk image of `bytes` random bytes (qemu-img reads it as raw). */
export async function randomImage(path: string, bytes: number): Promise<string> {
  const data = new Uint8Array(bytes);
  for (let at = 0; at < bytes; at += 65_536) crypto.getRandomValues(data.subarray(at, at + 65_536));
  await Deno.writeFile(path, data);
  return await sha256File(path);
}

/** Puts `name` (random bytes) on the server with its sidecar (`sha256` instead of the real one). */
export async function publish(nginx: Nginx, name: string, bytes: number, sha256?: string) {
  const hash = await randomImage(`${nginx.root}/${name}`, bytes);
  await Deno.writeTextFile(`${nginx.root}/${name}.sha256`, `${sha256 ?? hash}  ${name}\n`);
  return hash;
}

/** The names in a directory, sorted. */
export async function entries(path: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(path)) names.push(entry.name);
  return names.sort();
}
