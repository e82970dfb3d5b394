/**
 * The node's records of its containers (tables `containers` and
 * `container_ports`, migration 3). The records are the truth about what was
 * rented; the engine is asked about what runs. Rows are never removed: a
 * deleted container keeps its row with state `deleted`, but gives up its ports.
 */
import {
  type DatabaseSync,
  type InstanceState,
  type PortBinding,
  transaction,
} from "../../mod/mod.ts";
import { type PortKey, portKey } from "../host/mod.ts";

/** What a container was created with, beyond the columns; kept as JSON. */
export type ContainerSpecRecord = {
  command?: string[];
  env?: Record<string, string>;
  /** GPUs as asked for (the allocation table says which ones it holds). */
  gpus: { count: number } | { indexes: number[] } | { uuids: string[] };
};

export type ContainerRecord = {
  id: string;
  /** The engine's container name. */
  name: string;
  engineId: string | null;
  owner: string;
  state: InstanceState;
  image: string;
  spec: ContainerSpecRecord;
  cpuCores: number | null;
  memoryMib: number | null;
  volume: { name: string; mountPath: string; kept: boolean } | null;
  ports: PortBinding[];
  lastError: string | null;
  createdAt: number;
  updatedAt: number;
};

export type NewContainerRecord = Omit<
  ContainerRecord,
  "engineId" | "state" | "lastError" | "createdAt" | "updatedAt"
>;

export type ContainerUpdate = {
  state?: InstanceState;
  engineId?: string;
  lastError?: string | null;
  volumeKept?: boolean;
};

type ContainerRow = {
  id: string;
  name: string;
  engine_id: string | null;
  owner: string;
  state: InstanceState;
  image: string;
  spec: string;
  cpu_cores: number | null;
  memory_mib: number | null;
  volume_name: string | null;
  volume_mount: string | null;
  volume_kept: number;
  last_error: string | null;
  created_at: number;
  updated_at: number;
};

type PortRow = { container_port: number; protocol: "tcp" | "udp"; host_port: number };

/** Thrown when a record that must exist does not. */
export class ContainerNotFoundError extends Error {
  constructor(readonly id: string) {
    super(`no container ${id}`);
    this.name = "ContainerNotFoundError";
  }
}

export class ContainerStore {
  constructor(private readonly db: DatabaseSync, private readonly now: () => number) {}

  /** Inserts a record in state `creating` with its ports. Call inside a transaction with related writes. */
  insert(record: NewContainerRecord): ContainerRecord {
    const at = this.now();
    this.db.prepare(
      `INSERT INTO containers (id, name, engine_id, owner, state, image, spec, cpu_cores,
        memory_mib, volume_name, volume_mount, volume_kept, last_error, created_at, updated_at)
       VALUES (?, ?, NULL, ?, 'creating', ?, ?, ?, ?, ?, ?, 0, NULL, ?, ?)`,
    ).run(
      record.id,
      record.name,
      record.owner,
      record.image,
      JSON.stringify(record.spec),
      record.cpuCores,
      record.memoryMib,
      record.volume?.name ?? null,
      record.volume?.mountPath ?? null,
      at,
      at,
    );
    const insertPort = this.db.prepare(
      `INSERT INTO container_ports (container_id, container_port, protocol, host_port)
       VALUES (?, ?, ?, ?)`,
    );
    for (const port of record.ports) {
      insertPort.run(record.id, port.container_port, port.protocol, port.host_port);
    }
    return this.require(record.id);
  }

  get(id: string): ContainerRecord | undefined {
    const row = this.db.prepare("SELECT * FROM containers WHERE id = ?").get(id) as
      | ContainerRow
      | undefined;
    return row ? this.#fromRow(row) : undefined;
  }

  require(id: string): ContainerRecord {
    const record = this.get(id);
    if (!record) throw new ContainerNotFoundError(id);
    return record;
  }

  /** Oldest first. */
  list(options: { includeDeleted: boolean }): ContainerRecord[] {
    const rows = this.db.prepare(
      `SELECT * FROM containers ${
        options.includeDeleted ? "" : "WHERE state != 'deleted'"
      } ORDER BY created_at, id`,
    ).all() as ContainerRow[];
    return rows.map((row) => this.#fromRow(row));
  }

  update(id: string, change: ContainerUpdate): ContainerRecord {
    const sets: string[] = ["updated_at = ?"];
    const args: (string | number | null)[] = [this.now()];
    if (change.state !== undefined) sets.push("state = ?"), args.push(change.state);
    if (change.engineId !== undefined) sets.push("engine_id = ?"), args.push(change.engineId);
    if (change.lastError !== undefined) sets.push("last_error = ?"), args.push(change.lastError);
    if (change.volumeKept !== undefined) {
      sets.push("volume_kept = ?"), args.push(change.volumeKept ? 1 : 0);
    }
    const info = this.db.prepare(`UPDATE containers SET ${sets.join(", ")} WHERE id = ?`)
      .run(...args, id);
    if (Number(info.changes) === 0) throw new ContainerNotFoundError(id);
    return this.require(id);
  }

  /** Gives up the container's host ports (it is deleted or never came to be). */
  releasePorts(id: string): void {
    this.db.prepare("DELETE FROM container_ports WHERE container_id = ?").run(id);
  }

  /** Host ports held by the records (live containers, running or not). */
  heldHostPorts(): Set<PortKey> {
    const rows = this.db.prepare("SELECT protocol, host_port FROM container_ports").all() as {
      protocol: "tcp" | "udp";
      host_port: number;
    }[];
    return new Set(rows.map((row) => portKey(row.protocol, row.host_port)));
  }

  /** Runs `work` in one transaction. */
  atomically<T>(work: () => T): T {
    return transaction(this.db, work);
  }

  #fromRow(row: ContainerRow): ContainerRecord {
    const ports = this.db.prepare(
      `SELECT container_port, protocol, host_port FROM container_ports WHERE container_id = ?
       ORDER BY container_port, protocol`,
    ).all(row.id) as PortRow[];
    return {
      id: row.id,
      name: row.name,
      engineId: row.engine_id,
      owner: row.owner,
      state: row.state,
      image: row.image,
      spec: JSON.parse(row.spec) as ContainerSpecRecord,
      cpuCores: row.cpu_cores,
      memoryMib: row.memory_mib,
      volume: row.volume_name && row.volume_mount
        ? { name: row.volume_name, mountPath: row.volume_mount, kept: row.volume_kept === 1 }
        : null,
      ports: ports.map((port) => ({ ...port })),
      lastError: row.last_error,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    };
  }
}
