/**
 * VM records in SQLite (table `vms`, migration 2). A record outlives its
 * domain: deleting a VM marks it `deleted` and keeps the row, and a domain
 * that vanished behind the node's back leaves its record in place, marked.
 */
import type { DatabaseSync, InstanceState, VmOs } from "../../mod/mod.ts";

/**
 * What was asked for and decided at creation, stored as JSON; only a modify
 * of the stopped VM changes it after (cores, memory, disk size).
 */
export type VmSpec = {
  uuid: string;
  cpu_cores: number;
  memory_mib: number;
  disk_gib: number | null;
  firmware: "bios" | "uefi";
  mac_address: string;
  network: { mode: "user" | "bridge" | "network"; source: string | null };
  /** Host address the login port and VNC listen on. */
  listen_address: string;
  direct_boot: { kernel_image: string; initrd_image: string | null; cmdline: string } | null;
  /**
   * Who logs in to a Linux guest, as its seed disk (cloud-init) says; absent
   * for Windows guests and for VMs made before seed disks.
   */
  guest_login?: { user: string; password: string; password_ssh: boolean; ssh_keys: string[] };
  /** The script the seed disk carries as user-data instead of a login (check VMs). */
  guest_script?: string;
  /**
   * The renter's private network (node_service/lan/) the VM has a second NIC on: the LAN's id,
   * its name, the libvirt network, the NIC's MAC address and MTU.
   */
  lan?: { id: string; name: string; network: string; mac_address: string; mtu: number };
  /** The renter's description (absent on VMs made before it was kept). */
  desc?: string;
  /** Host ports forwarded to guest ports beside the login port (user-mode networking). */
  custom_ports?: { protocol: "tcp" | "udp"; host_port: number; guest_port: number }[];
  /** Extra qcow2 disks in the VM's directory, by the guest device they sit at. */
  data_disks?: { name: string; size_gib: number; file: string }[];
};

export type VmRecord = {
  id: string;
  domain: string;
  owner: string;
  state: InstanceState;
  os: VmOs;
  image: string;
  loginPort: number | null;
  vncPort: number | null;
  vncPassword: string;
  spec: VmSpec;
  lastError: string | null;
  createdAt: number;
  updatedAt: number;
};

type VmRow = {
  id: string;
  domain: string;
  owner: string;
  state: string;
  os: string;
  image: string;
  kernel_image: string | null;
  initrd_image: string | null;
  login_port: number | null;
  vnc_port: number | null;
  vnc_password: string;
  spec: string;
  last_error: string | null;
  created_at: number;
  updated_at: number;
};

const COLUMNS =
  "id, domain, owner, state, os, image, kernel_image, initrd_image, login_port, vnc_port, vnc_password, spec, last_error, created_at, updated_at";

function fromRow(row: VmRow): VmRecord {
  return {
    id: row.id,
    domain: row.domain,
    owner: row.owner,
    state: row.state as InstanceState,
    os: row.os as VmOs,
    image: row.image,
    loginPort: row.login_port,
    vncPort: row.vnc_port,
    vncPassword: row.vnc_password,
    spec: JSON.parse(row.spec) as VmSpec,
    lastError: row.last_error,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export class VmStore {
  constructor(private readonly db: DatabaseSync, private readonly now: () => number) {}

  /** Adds a record; the partial unique index refuses a login port another live VM holds. */
  insert(record: Omit<VmRecord, "createdAt" | "updatedAt">): VmRecord {
    const at = this.now();
    this.db.prepare(
      `INSERT INTO vms (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
      .run(
        record.id,
        record.domain,
        record.owner,
        record.state,
        record.os,
        record.image,
        record.spec.direct_boot?.kernel_image ?? null,
        record.spec.direct_boot?.initrd_image ?? null,
        record.loginPort,
        record.vncPort,
        record.vncPassword,
        JSON.stringify(record.spec),
        record.lastError,
        at,
        at,
      );
    return { ...record, createdAt: at, updatedAt: at };
  }

  get(id: string): VmRecord | undefined {
    const row = this.db.prepare(`SELECT ${COLUMNS} FROM vms WHERE id = ?`).get(id) as
      | VmRow
      | undefined;
    return row ? fromRow(row) : undefined;
  }

  /** Oldest first; deleted VMs only when asked for. */
  list(options: { includeDeleted: boolean }): VmRecord[] {
    const where = options.includeDeleted ? "" : "WHERE state != 'deleted'";
    return (this.db.prepare(`SELECT ${COLUMNS} FROM vms ${where} ORDER BY created_at, id`)
      .all() as VmRow[]).map(fromRow);
  }

  /** Sets the state (and the last error, which `null` clears); returns the updated record. */
  setState(id: string, state: InstanceState, lastError?: string | null): VmRecord {
    const at = this.now();
    if (lastError === undefined) {
      this.db.prepare("UPDATE vms SET state = ?, updated_at = ? WHERE id = ?").run(state, at, id);
    } else {
      this.db.prepare("UPDATE vms SET state = ?, last_error = ?, updated_at = ? WHERE id = ?")
        .run(state, lastError, at, id);
    }
    const record = this.get(id);
    if (!record) throw new Error(`no VM record ${id}`);
    return record;
  }

  /**
   * Replaces the spec and the login port (after a modify), and the VNC port when one is given;
   * the partial unique index refuses a login port another live VM holds.
   */
  modify(id: string, spec: VmSpec, loginPort: number | null, vncPort?: number | null): VmRecord {
    if (vncPort === undefined) {
      this.db.prepare("UPDATE vms SET spec = ?, login_port = ?, updated_at = ? WHERE id = ?")
        .run(JSON.stringify(spec), loginPort, this.now(), id);
    } else {
      this.db.prepare(
        "UPDATE vms SET spec = ?, login_port = ?, vnc_port = ?, updated_at = ? WHERE id = ?",
      ).run(JSON.stringify(spec), loginPort, vncPort, this.now(), id);
    }
    const record = this.get(id);
    if (!record) throw new Error(`no VM record ${id}`);
    return record;
  }

  /** Login ports held by VMs that are not deleted. */
  loginPortsInUse(): Set<number> {
    // A VNC display a renter named holds its host port as much as a login forward does.
    // So does a custom port forward, whatever its protocol (a port is one number to a renter).
    const rows = this.db.prepare(
      `SELECT login_port AS port FROM vms WHERE login_port IS NOT NULL AND state != 'deleted'
       UNION SELECT vnc_port FROM vms WHERE vnc_port IS NOT NULL AND state != 'deleted'
       UNION SELECT json_extract(forward.value, '$.host_port') FROM vms,
         json_each(vms.spec, '$.custom_ports') AS forward WHERE vms.state != 'deleted'`,
    ).all() as { port: number }[];
    return new Set(rows.map((row) => row.port));
  }

  /** The VMs (not deleted) attached to the private network with id `lanId`. */
  membersOfLan(lanId: string): string[] {
    const rows = this.db.prepare(
      `SELECT id FROM vms WHERE state != 'deleted' AND json_extract(spec, '$.lan.id') = ?
       ORDER BY id`,
    ).all(lanId) as { id: string }[];
    return rows.map((row) => row.id);
  }

  /**
   * When a VM last joined LAN `lanId` (was made on it) or left it (was deleted), as the
   * original's `lastUseTime`; null if none ever did.
   */
  lastUseOfLan(lanId: string): number | null {
    const row = this.db.prepare(
      `SELECT MAX(CASE WHEN state = 'deleted' THEN updated_at ELSE created_at END) AS at
       FROM vms WHERE json_extract(spec, '$.lan.id') = ?`,
    ).get(lanId) as { at: number | null } | undefined;
    return row?.at ?? null;
  }

  /** The VMs (not deleted) whose disk, kernel or initrd comes from image `name`. */
  usersOfImage(name: string): string[] {
    const rows = this.db.prepare(
      `SELECT id FROM vms WHERE state != 'deleted'
       AND (image = ? OR kernel_image = ? OR initrd_image = ?) ORDER BY id`,
    ).all(name, name, name) as { id: string }[];
    return rows.map((row) => row.id);
  }
}
