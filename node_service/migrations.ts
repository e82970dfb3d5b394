import type { Migration } from "../mod/mod.ts";

/** The node service's schema, in order; append, never edit a released entry. */
export const SERVICE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "event log",
    sql: `CREATE TABLE events (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      at INTEGER NOT NULL,
      actor TEXT NOT NULL,
      action TEXT NOT NULL,
      target TEXT,
      result TEXT NOT NULL CHECK (result IN ('ok', 'error')),
      detail TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX events_by_action ON events (action, id);
    CREATE INDEX events_by_target ON events (target, id);`,
  },
  {
    version: 2,
    name: "virtual machines, VM images, GPU allocations",
    // gpu_allocations is shared by VMs and containers: the primary key on the
    // GPU's UUID is what makes "a GPU is never given to two guests" hold even
    // against two writers racing on two connections.
    sql: `CREATE TABLE vm_images (
      name TEXT PRIMARY KEY,
      state TEXT NOT NULL CHECK (state IN ('adding', 'ready', 'failed')),
      format TEXT,
      size_bytes INTEGER,
      virtual_size_bytes INTEGER,
      sha256 TEXT,
      source TEXT NOT NULL,
      error TEXT,
      added_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL
    );
    CREATE TABLE vms (
      id TEXT PRIMARY KEY,
      domain TEXT NOT NULL UNIQUE,
      owner TEXT NOT NULL,
      state TEXT NOT NULL,
      os TEXT NOT NULL CHECK (os IN ('linux', 'windows')),
      image TEXT NOT NULL,
      kernel_image TEXT,
      initrd_image TEXT,
      login_port INTEGER,
      vnc_port INTEGER,
      vnc_password TEXT NOT NULL,
      spec TEXT NOT NULL,
      last_error TEXT,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX vms_by_login_port ON vms (login_port)
      WHERE login_port IS NOT NULL AND state != 'deleted';
    CREATE INDEX vms_by_image ON vms (image);
    CREATE TABLE gpu_allocations (
      gpu_uuid TEXT PRIMARY KEY,
      gpu_index INTEGER NOT NULL,
      pci_bus_id TEXT NOT NULL,
      instance_kind TEXT NOT NULL CHECK (instance_kind IN ('vm', 'container')),
      instance_id TEXT NOT NULL,
      allocated_at INTEGER NOT NULL
    );
    CREATE INDEX gpu_allocations_by_instance ON gpu_allocations (instance_kind, instance_id);`,
  },
  {
    version: 3,
    name: "containers and their published ports",
    // A host port is held by one live container: the ports of a deleted or
    // failed container are removed with it, and the unique index refuses a
    // second holder whatever the code does.
    sql: `CREATE TABLE containers (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL UNIQUE,
      engine_id TEXT,
      owner TEXT NOT NULL,
      state TEXT NOT NULL
        CHECK (state IN ('creating', 'running', 'stopped', 'expired', 'failed', 'deleted')),
      image TEXT NOT NULL,
      spec TEXT NOT NULL,
      cpu_cores REAL,
      memory_mib INTEGER,
      volume_name TEXT,
      volume_mount TEXT,
      volume_kept INTEGER NOT NULL DEFAULT 0,
      last_error TEXT,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL
    );
    CREATE INDEX containers_by_state ON containers (state);
    CREATE TABLE container_ports (
      container_id TEXT NOT NULL REFERENCES containers (id),
      container_port INTEGER NOT NULL,
      protocol TEXT NOT NULL CHECK (protocol IN ('tcp', 'udp')),
      host_port INTEGER NOT NULL,
      PRIMARY KEY (container_id, container_port, protocol)
    );
    CREATE UNIQUE INDEX container_ports_by_host_port ON container_ports (protocol, host_port);`,
  },
  {
    version: 4,
    name: "leases of renters' instances",
    // One row per VM or container a renter holds on this node: what the lease
    // loop last learnt, so a restart resumes where it stopped (an expired
    // instance keeps its retention clock).
    sql: `CREATE TABLE leases (
      instance_id TEXT PRIMARY KEY,
      instance_kind TEXT NOT NULL CHECK (instance_kind IN ('vm', 'container')),
      renter TEXT NOT NULL,
      machine_id TEXT NOT NULL,
      state TEXT NOT NULL CHECK (state IN ('active', 'expired', 'deleted')),
      rental_id TEXT,
      ends_at INTEGER,
      expired_at INTEGER,
      deleted_at INTEGER,
      checked_at INTEGER,
      tracked_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL
    );
    CREATE INDEX leases_by_state ON leases (state, instance_id);`,
  },
  {
    version: 5,
    name: "snapshots of VM disks",
    // What the node knows of each internal snapshot in a VM's qcow2 overlay:
    // qemu-img keeps the snapshot itself, this keeps who took it and why.
    sql: `CREATE TABLE vm_snapshots (
      vm_id TEXT NOT NULL REFERENCES vms (id),
      name TEXT NOT NULL,
      description TEXT NOT NULL,
      disk_bytes INTEGER NOT NULL,
      created_by TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      PRIMARY KEY (vm_id, name)
    );`,
  },
  {
    version: 6,
    name: "who added each VM image",
    // A renter may delete only the images it added itself; the operator's have none.
    sql: `ALTER TABLE vm_images ADD COLUMN added_by TEXT;`,
  },
  {
    version: 7,
    name: "delegated sessions",
    // Only a hash of each session id is kept: the database alone does not let anyone act.
    sql: `CREATE TABLE sessions (
      id_hash TEXT PRIMARY KEY,
      prefix TEXT NOT NULL,
      account TEXT NOT NULL,
      label TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      expires_at INTEGER NOT NULL,
      revoked_at INTEGER
    );
    CREATE INDEX sessions_by_account ON sessions (account, prefix);`,
  },
  {
    version: 8,
    name: "renter images private, named per owner",
    // A renter's image is stored under a key of its own (`name`) and known to its owner by
    // `label`: names are per owner, so nobody takes another's name, nor an operator's.
    sql: `ALTER TABLE vm_images ADD COLUMN label TEXT;
    UPDATE vm_images SET label = name WHERE added_by IS NOT NULL;
    CREATE UNIQUE INDEX vm_images_by_owner ON vm_images (added_by, label)
      WHERE added_by IS NOT NULL;`,
  },
  {
    version: 9,
    name: "validators' check VMs",
    // One row per check VM a validator made (its VM is in vms under the same id). The partial
    // unique index is the rule "one live check VM per validator and round", whatever the code
    // does; the slot's end is kept so a restart deletes what outlived its slot.
    sql: `CREATE TABLE check_vms (
      id TEXT PRIMARY KEY,
      validator TEXT NOT NULL,
      machine_id TEXT NOT NULL,
      round INTEGER NOT NULL,
      slot_starts_at INTEGER NOT NULL,
      slot_ends_at INTEGER NOT NULL,
      size TEXT NOT NULL,
      image TEXT NOT NULL,
      state TEXT NOT NULL CHECK (state IN ('live', 'deleted')),
      deleted_reason TEXT,
      deleted_at INTEGER,
      error TEXT,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX check_vms_one_live ON check_vms (validator, machine_id, round)
      WHERE state = 'live';
    CREATE INDEX check_vms_by_validator ON check_vms (validator, created_at);`,
  },
  {
    version: 10,
    name: "used nonces",
    // The bare-nonce signatures of original clients (http/compat/): single use, across restarts.
    // The same table as the ledger's (node_service/used_nonces.ts).
    sql: `CREATE TABLE used_nonces (
      account TEXT NOT NULL,
      nonce TEXT NOT NULL,
      expires_at INTEGER NOT NULL,
      PRIMARY KEY (account, nonce)
    );
    CREATE INDEX used_nonces_by_expiry ON used_nonces (expires_at);`,
  },
  {
    version: 11,
    name: "renters' monitoring servers",
    // Each renter's servers (the original's `/monitor/set`, at most two), in the order named: the
    // node pushes the metrics of the renter's VMs and of the host there (node_service/monitor/).
    sql: `CREATE TABLE monitor_servers (
      account TEXT NOT NULL,
      position INTEGER NOT NULL CHECK (position >= 0),
      host TEXT NOT NULL,
      port INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
      set_at INTEGER NOT NULL,
      PRIMARY KEY (account, position)
    );`,
  },
  {
    version: 12,
    name: "renters' private networks",
    // Each renter's LANs on this machine (node_service/lan/): the name is per renter, the id names
    // the host's devices (libvirt network, bridge, VXLAN), the VNI is unique on the host (the
    // kernel refuses two VXLAN devices with one VNI and port). `peers` is a JSON array of the
    // renter's other hosts' tunnel ends. The VMs on a LAN are in vms (spec.lan).
    sql: `CREATE TABLE lans (
      id TEXT PRIMARY KEY,
      account TEXT NOT NULL,
      name TEXT NOT NULL,
      cidr TEXT NOT NULL,
      serves_dhcp INTEGER NOT NULL CHECK (serves_dhcp IN (0, 1)),
      vni INTEGER NOT NULL UNIQUE CHECK (vni BETWEEN 1 AND 16777215),
      peers TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      UNIQUE (account, name)
    );`,
  },
  {
    version: 13,
    name: "image server transfers",
    // Downloads from and uploads to the operator's image servers (node_service/image_servers/):
    // each record outlives a restart, which marks the ones under way `interrupted`.
    sql: `CREATE TABLE image_transfers (
      transfer_id TEXT PRIMARY KEY,
      kind TEXT NOT NULL CHECK (kind IN ('download', 'upload')),
      server TEXT NOT NULL,
      remote_name TEXT NOT NULL,
      local TEXT NOT NULL,
      owner TEXT,
      state TEXT NOT NULL
        CHECK (state IN ('running', 'done', 'failed', 'stopped', 'interrupted')),
      phase TEXT NOT NULL,
      done_bytes INTEGER NOT NULL,
      total_bytes INTEGER,
      resumed INTEGER NOT NULL,
      sha256 TEXT,
      error TEXT,
      started_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL
    );
    CREATE INDEX image_transfers_by_owner ON image_transfers (owner, started_at);`,
  },
];
