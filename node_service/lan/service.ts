/**
 * Renters' private networks on this GPU node (the original's `VxlanManager`): a renter makes a
 * named LAN with a private IPv4 range, attaches VMs to it at create, and the VMs on it reach each
 * other and nobody else's. Each LAN is an isolated libvirt network (its own bridge; DHCP from the
 * host where the LAN was first made) plus a VXLAN device on that bridge that carries it to the
 * renter's other hosts (plan.ts, host.ts).
 *
 * Two hosts learn of each other from the renter alone: the LAN's answer shows its VNI and this
 * host's tunnel end (`vtep`); the renter makes the LAN on the other host with that VNI and this
 * host as peer, then names the other host as peer here (`lan.peers`). No peer's word moves a
 * forwarding entry: only the owner's signed requests do.
 *
 * A refused request changes nothing: every check runs before anything is written. A LAN's record
 * is written before the host is touched and removed again if that fails, so a restart that cut a
 * create short finds the record and makes the rest (restore()).
 */
import { type Lan, LAN_LIMITS, type Logger, RpcError } from "../../mod/mod.ts";
import type { EventLog } from "../event_log.ts";
import { formatRange, judgePeer, judgeRange, overlaps, rangeAddresses } from "./cidr.ts";
import { LAN_MTU, VNI_TRIES } from "./constants.ts";
import type { LanHost } from "./host.ts";
import {
  type LanNames,
  lanNames,
  type LanRecord,
  networkXml,
  newLanId,
  recordRange,
} from "./plan.ts";
import { LanStore } from "./store.ts";
import type { DatabaseSync } from "../../mod/mod.ts";

export type LanServiceOptions = {
  db: DatabaseSync;
  events: EventLog;
  host: LanHost;
  /** Where the libvirt network XML files are written (the service's own directory). */
  xmlDir: string;
  /** The node's `vm_domain_prefix`: its libvirt networks are named with it. */
  domainPrefix: string;
  /** Starts the bridge and VXLAN device names (`dbc` on nodes). */
  devicePrefix: string;
  /** The ids of the VMs (not deleted) attached to a LAN. */
  members: (lanId: string) => string[];
  /** When a VM last joined or left a LAN (null: none ever did). */
  lastUse: (lanId: string) => number | null;
  /** This host's tunnel end when the operator names it; else the default route's source. */
  vtep?: string;
  now: () => number;
  log: Logger;
};

/** A create as the `lan.create` message carries it (mod/schemas/lan.ts). */
export type LanCreateRequest = {
  actor: string;
  account: string;
  name: string;
  cidr: string;
  vni?: number;
  peers?: string[];
};

/** What a VM create needs to put a VM on a LAN. */
export type LanAttachment = { id: string; name: string; network: string; mtu: number };

export class LanService {
  readonly #options: LanServiceOptions;
  readonly #store: LanStore;
  /** Creates, deletes and peer changes one at a time: each checks, then writes. */
  #queue: Promise<unknown> = Promise.resolve();
  #vtep: Promise<string | null> | undefined;

  constructor(options: LanServiceOptions) {
    this.#options = options;
    this.#store = new LanStore(options.db);
    Deno.mkdirSync(options.xmlDir, { recursive: true, mode: 0o700 });
  }

  async list(account: string, name?: string): Promise<Lan[]> {
    const records = name === undefined
      ? this.#store.ofAccount(account)
      : [this.#store.get(account, name) ?? notFound(name)];
    if (records.length === 0) return [];
    const vtep = await this.#hostVtep();
    return records.map((record) => this.#view(record, vtep));
  }

  /** The LAN a VM of `account` is to be attached to; refuses a name the account has not made. */
  attachment(account: string, name: string): LanAttachment {
    const record = this.#store.get(account, name) ?? notFound(name);
    return {
      id: record.id,
      name: record.name,
      network: this.#names(record).network,
      mtu: LAN_MTU,
    };
  }

  create(params: LanCreateRequest): Promise<Lan> {
    return this.#serial(() => this.#create(params));
  }

  delete(params: { actor: string; account: string; name: string }): Promise<Lan> {
    return this.#serial(async () => {
      const record = this.#store.get(params.account, params.name) ?? notFound(params.name);
      const members = this.#options.members(record.id);
      if (members.length > 0) {
        throw new RpcError(
          "conflict",
          `network ${record.name} is in use by ${members.join(", ")}: delete those VMs first`,
        );
      }
      const view = this.#view(record, await this.#hostVtep());
      await this.#teardown(record);
      this.#store.delete(record.id);
      this.#options.events.record({
        actor: params.actor,
        action: "lan.delete",
        target: record.name,
        result: "ok",
        detail: { account: record.account, id: record.id },
      });
      return view;
    });
  }

  setPeers(
    params: { actor: string; account: string; name: string; peers: string[] },
  ): Promise<Lan> {
    return this.#serial(async () => {
      const record = this.#store.get(params.account, params.name) ?? notFound(params.name);
      const peers = await this.#judgePeers(params.peers);
      const names = this.#names(record);
      await this.#host(() =>
        this.#options.host.ensureVxlan({
          device: names.vxlan,
          bridge: names.bridge,
          vni: record.vni,
          peers,
        })
      );
      this.#store.setPeers(record.id, peers);
      this.#options.events.record({
        actor: params.actor,
        action: "lan.peers",
        target: record.name,
        result: "ok",
        detail: { account: record.account, peers },
      });
      return this.#view({ ...record, peers }, await this.#hostVtep());
    });
  }

  /**
   * At start: every stored LAN's network, bridge and VXLAN device as its record says, re-made
   * where they are gone (a host reboot, someone's `ip link del`). A LAN that cannot be restored is
   * logged and the others go on.
   */
  restore(): Promise<void> {
    return this.#serial(async () => {
      for (const record of this.#store.all()) {
        try {
          await this.#setUp(record);
        } catch (error) {
          this.#options.log.error("cannot restore a LAN", {
            lan: record.id,
            error: (error as Error).message,
          });
        }
      }
    });
  }

  async #create(params: LanCreateRequest): Promise<Lan> {
    const judged = judgeRange(params.cidr);
    if (!judged.ok) throw new RpcError("invalid_params", judged.reason);
    const range = judged.range;
    const peers = await this.#judgePeers(params.peers ?? []);
    if (this.#store.get(params.account, params.name)) {
      throw new RpcError("conflict", `network name ${params.name} already exists`);
    }
    const own = this.#store.ofAccount(params.account);
    if (own.length >= LAN_LIMITS.maxPerAccount) {
      throw new RpcError("conflict", `at most ${LAN_LIMITS.maxPerAccount} networks per renter`);
    }
    const clash = own.find((other) => overlaps(recordRange(other), range));
    if (clash) {
      throw new RpcError(
        "invalid_params",
        `ip cidr ${formatRange(range)} overlaps your network ${clash.name} (${clash.cidr})`,
      );
    }
    // Another renter's LAN served here is one of these too; which, is not this renter's business.
    const hostRanges = await this.#host(() => this.#options.host.hostRanges());
    if (hostRanges.some((hostRange) => overlaps(hostRange, range))) {
      throw new RpcError(
        "invalid_params",
        `ip cidr ${formatRange(range)} overlaps a network this host already uses`,
      );
    }
    if (params.vni !== undefined && this.#store.vniInUse(params.vni)) {
      throw new RpcError("conflict", `VXLAN VNI ${params.vni} is taken on this host`);
    }
    const record: LanRecord = {
      id: newLanId(),
      account: params.account,
      name: params.name,
      cidr: formatRange(range),
      // The host where the LAN is first made serves its addresses, as in the original.
      servesDhcp: params.vni === undefined,
      vni: params.vni ?? this.#freeVni(),
      peers,
      createdAt: this.#options.now(),
    };
    this.#store.insert(record);
    try {
      await this.#setUp(record);
    } catch (error) {
      await this.#teardown(record).catch((undo) =>
        this.#options.log.error("cannot undo a half-made LAN", {
          lan: record.id,
          error: (undo as Error).message,
        })
      );
      this.#store.delete(record.id);
      this.#options.events.record({
        actor: params.actor,
        action: "lan.create",
        target: record.name,
        result: "error",
        detail: { account: record.account, error: (error as Error).message },
      });
      throw error;
    }
    this.#options.events.record({
      actor: params.actor,
      action: "lan.create",
      target: record.name,
      result: "ok",
      detail: { account: record.account, id: record.id, cidr: record.cidr, vni: record.vni },
    });
    return this.#view(record, await this.#hostVtep());
  }

  async #setUp(record: LanRecord): Promise<void> {
    const names = this.#names(record);
    const xmlPath = `${this.#options.xmlDir}/${names.network}.xml`;
    await Deno.writeTextFile(xmlPath, networkXml(record, names), { mode: 0o600 });
    await this.#host(() => this.#options.host.ensureNetwork(names.network, xmlPath, names.bridge));
    await this.#host(() =>
      this.#options.host.ensureVxlan({
        device: names.vxlan,
        bridge: names.bridge,
        vni: record.vni,
        peers: record.peers,
      })
    );
  }

  async #teardown(record: LanRecord): Promise<void> {
    const names = this.#names(record);
    await this.#host(() => this.#options.host.removeVxlan(names.vxlan));
    await this.#host(() => this.#options.host.removeNetwork(names.network));
    await Deno.remove(`${this.#options.xmlDir}/${names.network}.xml`).catch(() => {});
  }

  async #judgePeers(peers: readonly string[]): Promise<string[]> {
    const unique = [...new Set(peers)];
    for (const peer of unique) {
      const refusal = judgePeer(peer);
      if (refusal) throw new RpcError("invalid_params", refusal);
    }
    const own = await this.#hostVtep();
    if (own !== null && unique.includes(own)) {
      throw new RpcError("invalid_params", `peer ${own} is this host itself`);
    }
    return unique;
  }

  #freeVni(): number {
    for (let attempt = 0; attempt < VNI_TRIES; attempt++) {
      const [word] = crypto.getRandomValues(new Uint32Array(1));
      const vni = (word! % LAN_LIMITS.maxVni) + 1;
      if (!this.#store.vniInUse(vni)) return vni;
    }
    throw new RpcError("conflict", "no free VXLAN VNI on this host");
  }

  #names(record: LanRecord): LanNames {
    return lanNames(record.id, this.#options.domainPrefix, this.#options.devicePrefix);
  }

  #hostVtep(): Promise<string | null> {
    if (this.#options.vtep !== undefined) return Promise.resolve(this.#options.vtep);
    // Asked once; a failure is asked again next time.
    this.#vtep ??= this.#options.host.vtep().catch((error) => {
      this.#vtep = undefined;
      this.#options.log.warn("cannot tell this host's tunnel address", {
        error: (error as Error).message,
      });
      return null;
    });
    return this.#vtep;
  }

  #view(record: LanRecord, vtep: string | null): Lan {
    const names = this.#names(record);
    const addresses = record.servesDhcp ? rangeAddresses(recordRange(record)) : undefined;
    return {
      network_name: record.name,
      ip_cidr: record.cidr,
      gateway: addresses?.gateway ?? null,
      dhcp_start: addresses?.start ?? null,
      dhcp_end: addresses?.end ?? null,
      vxlan_vni: record.vni,
      vtep,
      peers: record.peers,
      bridge_name: names.bridge,
      vxlan_name: names.vxlan,
      members: this.#options.members(record.id),
      created_at: record.createdAt,
      last_used_at: Math.max(record.createdAt, this.#options.lastUse(record.id) ?? 0),
    };
  }

  /** Host failures are the node's, not the caller's: `internal` with what failed. */
  async #host<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof RpcError) throw error;
      throw new RpcError("internal", (error as Error).message);
    }
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(work);
    this.#queue = result.catch(() => {});
    return result;
  }
}

function notFound(name: string): never {
  throw new RpcError("not_found", `network name ${name} does not exist`);
}
