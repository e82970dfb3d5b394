/**
 * A GPU node for the original dialect's in-process tests: the compat app
 * over a node service whose sessions and used nonces are the real ones (real
 * SQLite), and whose VMs, images, market and leases are kept in memory with
 * the shapes the real ones answer. Every call is checked against the
 * message catalogue both ways, as at the worker boundary. Requests are
 * signed as original clients sign them: sr25519 (polkadot-js keyring) over
 * the bare nonce.
 */
import type { KeyringPair } from "@polkadot/keyring/types";
import { u8aToHex } from "@polkadot/util";
import type { AppDeps } from "../../http/mod.ts";
import { createCompatApp } from "../../http/compat/mod.ts";
import {
  derivedMachineId,
  generateNodeKeys,
  type MarketNode,
  type Method,
  METHODS,
  openDatabase,
  RpcError,
  silentLogger,
  type Vm,
  type VmImage,
  type VmSnapshot,
} from "../../mod/mod.ts";
import { EventLog } from "../../node_service/event_log.ts";
import { SERVICE_MIGRATIONS } from "../../node_service/migrations.ts";
import { sessionHandlers, SessionStore } from "../../node_service/sessions.ts";
import { usedNonceHandlers } from "../../node_service/used_nonces.ts";
import { scratchDir } from "../helpers.ts";
import { freshNonce } from "../wallets.ts";

// deno-lint-ignore no-explicit-any
export type Json = any;

/** Hex, no `0x`, of `pair`'s signature over the UTF-8 bytes of `text` (what `sign_tool` makes). */
export function signText(pair: KeyringPair, text: string): string {
  return u8aToHex(pair.sign(new TextEncoder().encode(text))).slice(2);
}

/** The wallet triple of an original body, with a fresh nonce. */
export function walletFields(pair: KeyringPair, nonce = freshNonce()) {
  return { wallet: pair.address, nonce, sign: signText(pair, nonce) };
}

/** The session pair of an original body. */
export function sessionFields(pair: KeyringPair, sessionId: string) {
  return { session_id: sessionId, session_id_sign: signText(pair, sessionId) };
}

export type CompatApp = ReturnType<typeof createCompatApp>;

/** A small Linux VM's create in the original's strings (`additional` of `/api/v1/tasks/start`). */
export const LINUX_CREATE = {
  ssh_port: "5678",
  image_name: "ubuntu.qcow2",
  gpu_count: "0",
  cpu_cores: "2",
  mem_size: "4",
  disk_size: "10",
  vnc_port: "5907",
};

/** POSTs (or `method`s) `body` to `app`; the status and the parsed `{errcode, message}`. */
export async function send(
  app: CompatApp,
  path: string,
  body?: unknown,
  options: { method?: string; env?: unknown; raw?: string } = {},
): Promise<{ status: number; body: Json }> {
  const request = new Request(`http://compat.test${path}`, {
    method: options.method ?? "POST",
    headers: { "content-type": "application/json" },
    body: options.raw ?? (body === undefined ? undefined : JSON.stringify(body)),
  });
  const response = await app.fetch(request, options.env);
  return { status: response.status, body: await response.json() };
}

const IMAGE: VmImage = {
  name: "ubuntu.qcow2",
  state: "ready",
  format: "qcow2",
  size_bytes: 3 * 2 ** 30,
  virtual_size_bytes: 10 * 2 ** 30,
  sha256: null,
  source: "/images/ubuntu.qcow2",
  error: null,
  added_at: 1,
  updated_at: 1,
  progress: null,
  used_by: [],
  added_by: null,
};

/** The node service's answers, VMs in memory: enough of it for the dialect's translations. */
function standInVms(now: () => number) {
  const vms = new Map<string, Vm>();
  const snapshots = new Map<string, VmSnapshot>();
  const vmOf = (id: string) => {
    const vm = vms.get(id);
    if (!vm || vm.state === "deleted") throw new RpcError("not_found", `no VM ${id}`);
    return vm;
  };
  const stopped = (id: string) => {
    if (vmOf(id).state !== "stopped") {
      throw new RpcError("conflict", `cannot change VM ${id}: it is running`);
    }
  };
  const diskList = (id: string) => ({
    vm_id: id,
    disks: [
      {
        name: "vda",
        file: `/vms/${id}/disk.qcow2`,
        size_gib: vmOf(id).disk_gib,
        size_bytes: (vmOf(id).disk_gib ?? 0) * 2 ** 30,
        kind: "system",
      },
      ...vmOf(id).data_disks!.map((disk) => ({
        name: disk.name,
        file: `/vms/${id}/data-${disk.name}.qcow2`,
        size_gib: disk.size_gib,
        size_bytes: disk.size_gib * 2 ** 30,
        kind: "data",
      })),
    ],
  });
  const setState = (id: string, state: Vm["state"]) => {
    const vm = vmOf(id);
    vm.state = state;
    return vm;
  };
  return {
    vms,
    handlers: {
      "vm.create": (args: Json) => {
        if (args.gpus.count > 0) {
          throw new RpcError("conflict", `${args.gpus.count} GPUs asked, 0 free on this node`);
        }
        const vm = {
          id: args.id,
          kind: "vm",
          owner: args.owner,
          state: "running",
          gpus: [],
          created_at: now(),
          updated_at: now(),
          last_error: null,
          domain: `dbc-${args.id}`,
          os: args.os,
          image: args.image,
          cpu_cores: args.cpu_cores,
          memory_mib: args.memory_mib,
          disk_gib: args.disk_gib ?? null,
          firmware: args.firmware,
          gpu_devices: [],
          network: { mode: "user", source: null },
          login: {
            protocol: args.os === "windows" ? "rdp" : "ssh",
            host: "203.0.113.7",
            port: args.login_port ?? 30_001,
          },
          vnc: { listen: "127.0.0.1", port: args.vnc_port ?? null, password: "vnc-secret" },
          desc: args.desc ?? "",
          custom_ports: args.custom_ports ?? [],
          data_disks: [],
          ...(args.network_name
            ? { lan: { network_name: args.network_name, mac_address: "52:54:00:0a:0b:0c" } }
            : {}),
        } as Vm;
        vms.set(args.id, vm);
        return vm;
      },
      "vm.list": () => ({ vms: [...vms.values()] }),
      "vm.get": (args: Json) => ({
        ...vmOf(args.id),
        credentials: { user: "dbc", password: "login-secret-1", password_ssh: true, ssh_keys: [] },
        hypervisor: { state: "missing" },
      }),
      "vm.start": (args: Json) => setState(args.id, "running"),
      "vm.stop": (args: Json) => setState(args.id, "stopped"),
      "vm.restart": (args: Json) => vmOf(args.id),
      "vm.reset": (args: Json) => vmOf(args.id),
      "vm.delete": (args: Json) => setState(args.id, "deleted"),
      "vm.logs": (args: Json) => ({
        lines: Array.from({ length: args.lines }, (_, index) => `${args.from} line ${index}`),
        truncated: false,
      }),
      "vm.modify": (args: Json) => {
        stopped(args.id);
        const vm = vmOf(args.id);
        vm.cpu_cores = args.cpu_cores ?? vm.cpu_cores;
        vm.memory_mib = args.memory_mib ?? vm.memory_mib;
        return vm;
      },
      "vm.snapshot_create": (args: Json) => {
        stopped(args.id);
        const taken: VmSnapshot = {
          vm_id: args.id,
          name: args.name,
          description: args.description,
          disk_bytes: 2 ** 30,
          created_at: now(),
          created_by: args.actor,
        };
        snapshots.set(`${args.id}/${args.name}`, taken);
        return taken;
      },
      "vm.snapshot_list": (args: Json) => ({
        snapshots: [...snapshots.values()].filter((taken) => taken.vm_id === args.id),
      }),
      "vm.snapshot_get": (args: Json) => {
        const taken = snapshots.get(`${args.id}/${args.name}`);
        if (!taken) throw new RpcError("not_found", `no snapshot ${args.name}`);
        return taken;
      },
      "vm.snapshot_delete": (args: Json) => {
        stopped(args.id);
        if (!snapshots.delete(`${args.id}/${args.name}`)) {
          throw new RpcError("not_found", `no snapshot ${args.name}`);
        }
        return { vm_id: args.id, name: args.name, deleted: true };
      },
      "vm_image.list": () => ({ images: [IMAGE] }),
      // Data disks as the real service lists them: the system disk first, then vdc, vdd, ...
      "vm.disk_list": (args: Json) => diskList(args.id),
      "vm.disk_add": (args: Json) => {
        stopped(args.id);
        const disks = vmOf(args.id).data_disks!;
        disks.push({ name: `vd${"cdefgh"[disks.length]}`, size_gib: args.size_gib });
        return diskList(args.id);
      },
      "vm.disk_resize": (args: Json) => {
        stopped(args.id);
        const disk = vmOf(args.id).data_disks!.find((item) => item.name === args.disk);
        if (!disk) throw new RpcError("not_found", `VM ${args.id} has no disk ${args.disk}`);
        if (args.size_gib < disk.size_gib) {
          throw new RpcError("invalid_params", `disk ${args.disk}: a disk only grows`);
        }
        disk.size_gib = args.size_gib;
        return diskList(args.id);
      },
      "vm.disk_delete": (args: Json) => {
        stopped(args.id);
        const vm = vmOf(args.id);
        if (!vm.data_disks!.some((item) => item.name === args.disk)) {
          throw new RpcError("not_found", `VM ${args.id} has no disk ${args.disk}`);
        }
        vm.data_disks = vm.data_disks!.filter((item) => item.name !== args.disk);
        return diskList(args.id);
      },
      "vm.passwd": (args: Json) => {
        const vm = vmOf(args.id);
        if (vm.state !== "running") throw new RpcError("conflict", `VM ${args.id} is stopped`);
        return vm;
      },
    } as Record<string, (args: Json) => unknown>,
  };
}

/** A market entry for `nodeId`, as a GPU node's announcement leaves it. */
export function marketNode(nodeId: string, extra: Partial<MarketNode> = {}): MarketNode {
  return {
    node_id: nodeId,
    role: "gpu",
    version: "0.1.0",
    gpu_count: 0,
    gpus: [],
    gpu_status: "none",
    cpu: { model: "QEMU Virtual CPU", cores: 2 },
    memory_total_mib: 4096,
    disk: { total_gib: 100, free_gib: 60 },
    state: "leased",
    price_per_hour: null,
    announce_interval_s: 30,
    signed_at: 1,
    received_at: 1,
    expires_at: 9e12,
    ...extra,
  };
}

export type GpuNodeFixture = Awaited<ReturnType<typeof gpuNode>>;

/**
 * A GPU node: its compat app (`makeApp()`, a new one after a restart), the renters who rent it,
 * the calls it received. The database outlives the apps made on it.
 */
export async function gpuNode(
  options: { renters: string[]; role?: "gpu" | "client"; machineId?: string },
) {
  const dir = await scratchDir("compat");
  const db = openDatabase(`${dir}/node.db`, SERVICE_MIGRATIONS);
  const now = () => Date.now();
  const events = new EventLog(db, now);
  const nodeId = generateNodeKeys().nodeId;
  const machineId = options.machineId ?? derivedMachineId(nodeId)!;
  const market: MarketNode[] = [marketNode(nodeId, { machine_id: machineId })];
  const stand = standInVms(now);
  const calls: Array<{ method: string; params: Json }> = [];
  const handlers: Record<string, (args: Json, context: Json) => unknown> = {
    ...stand.handlers,
    ...sessionHandlers(new SessionStore(db, now), events),
    ...usedNonceHandlers(db, now),
    "lease.check": (args: Json) => ({
      renting: options.renters.includes(args.account),
      lease: options.renters.includes(args.account)
        ? { state: "active", rental_id: "r-1", ends_at: 9e12 }
        : { state: "none" },
      verification: "ledger",
      checked_at: now(),
    }),
    "market.nodes": () => ({ nodes: market }),
    "market.node": (args: Json) => {
      const found = market.find((node) => node.node_id === args.node_id);
      if (!found) throw new RpcError("not_found", `no GPU node ${args.node_id}`);
      return found;
    },
    "network.peers.active": () => ({
      peers: [{
        id: nodeId,
        ip: "10.0.0.2",
        port: 5001,
        node_type: "gpu",
        state: "connected",
        direction: "outbound",
        connected_since: 1,
        rtt_ms: 2,
      }],
    }),
  };
  let network: ((params: Json) => Promise<unknown>) | undefined;
  // Like the worker boundary: parameters and results checked against the catalogue.
  const call = (async (method: Method, params: unknown) => {
    const spec = METHODS[method];
    const checked = spec.params.parse(params);
    calls.push({ method, params: checked });
    if (method === "network.send" && network) return spec.result.parse(await network(checked));
    const handler = handlers[method];
    if (!handler) throw new RpcError("unavailable", `${method} is not wired in this test`);
    return spec.result.parse(await handler(checked, { from: "http" }));
  }) as AppDeps["call"];
  /** This node's compat app; its calls go to `over` (a test's own handlers in front) when given. */
  const makeApp = (over: AppDeps["call"] = call) =>
    createCompatApp({
      call: over,
      log: silentLogger,
      node: { nodeId, role: options.role ?? "gpu", forwardTimeoutMs: 5_000, machineId },
    });
  return {
    dir,
    nodeId,
    machineId,
    market,
    vms: stand.vms,
    calls,
    call,
    makeApp,
    /** An original body for this node, signed by `pair`'s wallet. */
    signedBody: (pair: KeyringPair, additional: Record<string, unknown> = {}) => ({
      peer_nodes_list: [machineId],
      additional,
      ...walletFields(pair),
    }),
    /** Lets `network.send` reach another app (a client-end forwarding here). */
    onNetworkSend(send: (params: Json) => Promise<unknown>) {
      network = send;
    },
    callsOf: (method: string) => calls.filter((entry) => entry.method === method),
    async close() {
      db.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}
