/**
 * What is really there, read from outside the node: libvirt (`virsh`: the
 * domains with the node's prefix, their persistent definitions), the VM
 * directory and each disk's header (`qemu-img info -U`, safe on a running
 * guest's disk), and the container engine (every container labelled
 * `dbc.node=<node id>`); and what the node says: its instances through the
 * operator API (as a renter's list shows them: VM states brought up to date
 * with libvirt as the node does on every list), its snapshot records and GPU
 * allocations from its SQLite file, opened read-only. invariants.ts compares
 * them. Right after a kill, only the SQLite file is read (the node is dead).
 */
import { DatabaseSync } from "node:sqlite";
import { DockerEngine, VM_FILES } from "../../node_service/mod.ts";

export type VmRow = {
  id: string;
  domain: string;
  state: string;
  cpuCores: number;
  memoryMib: number;
  diskGib: number | null;
};
export type ContainerRow = { id: string; name: string; engineId: string | null; state: string };
export type GpuRow = { gpuUuid: string; instanceKind: string; instanceId: string };
export type SnapshotRow = { vmId: string; name: string };

/** The node's records, as its database holds them. */
export type NodeRecords = {
  vms: VmRow[];
  containers: ContainerRow[];
  gpuAllocations: GpuRow[];
  snapshots: SnapshotRow[];
};

export type DomainSeen = { name: string; active: boolean };
/** A live VM's definition and disk as libvirt and qemu-img have them. */
export type VmFacts = {
  vcpus: number | null;
  memoryKib: number | null;
  diskBytes: number | null;
  /** null: the disk's header could not be read. */
  diskSnapshots: string[] | null;
};
export type EngineContainer = { id: string; name: string; instance: string; running: boolean };

export type GroundTruth = {
  records: NodeRecords;
  domains: DomainSeen[];
  /** Names in the VM directory. */
  vmDirEntries: string[];
  engineContainers: EngineContainer[];
  /** Per live VM record whose domain exists. */
  vmFacts: Map<string, VmFacts>;
};

/** The node's records, read-only (the node may be running, or dead since a kill). */
export function readRecords(dbPath: string): NodeRecords {
  const db = new DatabaseSync(dbPath, { readOnly: true });
  try {
    const vms = (db.prepare("SELECT id, domain, state, spec FROM vms ORDER BY id").all() as {
      id: string;
      domain: string;
      state: string;
      spec: string;
    }[]).map((row) => {
      const spec = JSON.parse(row.spec) as {
        cpu_cores: number;
        memory_mib: number;
        disk_gib: number | null;
      };
      return {
        id: row.id,
        domain: row.domain,
        state: row.state,
        cpuCores: spec.cpu_cores,
        memoryMib: spec.memory_mib,
        diskGib: spec.disk_gib,
      };
    });
    const containers = (db.prepare(
      "SELECT id, name, engine_id, state FROM containers ORDER BY id",
    ).all() as { id: string; name: string; engine_id: string | null; state: string }[])
      .map((row) => ({ id: row.id, name: row.name, engineId: row.engine_id, state: row.state }));
    const gpuAllocations = (db.prepare(
      "SELECT gpu_uuid, instance_kind, instance_id FROM gpu_allocations ORDER BY gpu_uuid",
    ).all() as { gpu_uuid: string; instance_kind: string; instance_id: string }[])
      .map((row) => ({
        gpuUuid: row.gpu_uuid,
        instanceKind: row.instance_kind,
        instanceId: row.instance_id,
      }));
    const snapshots = (db.prepare("SELECT vm_id, name FROM vm_snapshots ORDER BY vm_id, name")
      .all() as { vm_id: string; name: string }[])
      .map((row) => ({ vmId: row.vm_id, name: row.name }));
    return { vms, containers, gpuAllocations, snapshots };
  } finally {
    db.close();
  }
}

export type GroundTruthSources = {
  dbPath: string;
  domainPrefix: string;
  vmDir: string;
  dockerSocket: string;
  nodeId: string;
  /** The node's HTTP API and operator token. */
  api: string;
  operatorToken: string;
};

/** Everything, read now. */
export async function readGroundTruth(sources: GroundTruthSources): Promise<GroundTruth> {
  const stored = readRecords(sources.dbPath);
  const records = { ...stored, ...await nodeInstances(sources.api, sources.operatorToken) };
  const domains = await libvirtDomains(sources.domainPrefix);
  const vmDirEntries: string[] = [];
  for await (const entry of Deno.readDir(sources.vmDir)) vmDirEntries.push(entry.name);
  const engine = new DockerEngine(sources.dockerSocket);
  let engineContainers: EngineContainer[];
  try {
    engineContainers = (await engine.listContainers([`dbc.node=${sources.nodeId}`])).map((
      listing,
    ) => ({
      id: listing.id,
      name: listing.name,
      instance: listing.labels["dbc.instance"] ?? "",
      running: listing.status === "running",
    }));
  } finally {
    engine.close();
  }
  const vmFacts = new Map<string, VmFacts>();
  const present = new Set(domains.map((domain) => domain.name));
  for (const vm of records.vms) {
    if (vm.state === "deleted" || !present.has(vm.domain)) continue;
    vmFacts.set(vm.id, await readVmFacts(vm.domain, `${sources.vmDir}/${vm.id}/${VM_FILES.disk}`));
  }
  return { records, domains, vmDirEntries: vmDirEntries.sort(), engineContainers, vmFacts };
}

/** Every VM and container, deleted ones included, as the node's operator API lists them. */
async function nodeInstances(
  api: string,
  token: string,
): Promise<Pick<NodeRecords, "vms" | "containers">> {
  const response = await fetch(`${api}/api/v1/operator/instances?include_deleted=true`, {
    headers: { authorization: `Bearer ${token}` },
  });
  const answer = await response.json();
  if (answer.error_code !== 0) throw new Error(`operator instances: ${answer.error_message}`);
  const { vms, containers } = answer.data as {
    vms: {
      id: string;
      domain: string;
      state: string;
      cpu_cores: number;
      memory_mib: number;
      disk_gib: number | null;
    }[];
    containers: { id: string; name: string; engine_id: string | null; state: string }[];
  };
  return {
    vms: vms.map((vm) => ({
      id: vm.id,
      domain: vm.domain,
      state: vm.state,
      cpuCores: vm.cpu_cores,
      memoryMib: vm.memory_mib,
      diskGib: vm.disk_gib,
    })),
    containers: containers.map((container) => ({
      id: container.id,
      name: container.name,
      engineId: container.engine_id,
      state: container.state,
    })),
  };
}

async function libvirtDomains(prefix: string): Promise<DomainSeen[]> {
  const all = await virsh("list", "--all", "--name");
  const active = new Set(names(await virsh("list", "--name")));
  return names(all).filter((name) => name.startsWith(prefix)).map((name) => ({
    name,
    active: active.has(name),
  }));
}

async function readVmFacts(domain: string, diskPath: string): Promise<VmFacts> {
  const xml = await virsh("dumpxml", "--inactive", domain).catch(() => "");
  const number = (pattern: RegExp) => {
    const found = pattern.exec(xml)?.[1];
    return found === undefined ? null : Number(found);
  };
  let diskBytes: number | null = null;
  let diskSnapshots: string[] | null = null;
  try {
    const info = JSON.parse(await run("qemu-img", ["info", "-U", "--output=json", diskPath])) as {
      "virtual-size"?: number;
      snapshots?: { name?: string }[];
    };
    diskBytes = info["virtual-size"] ?? null;
    diskSnapshots = (info.snapshots ?? []).map((snapshot) => snapshot.name ?? "").sort();
  } catch {
    // Missing or unreadable: reported as such.
  }
  return {
    vcpus: number(/<vcpu[^>]*>(\d+)<\/vcpu>/),
    memoryKib: number(/<memory unit=["']KiB["']>(\d+)<\/memory>/),
    diskBytes,
    diskSnapshots,
  };
}

function names(text: string): string[] {
  return text.split("\n").map((line) => line.trim()).filter(Boolean);
}

function virsh(...args: string[]): Promise<string> {
  return run("virsh", ["-c", "qemu:///system", ...args]);
}

async function run(program: string, args: string[]): Promise<string> {
  const output = await new Deno.Command(program, {
    args,
    env: { LC_ALL: "C" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (output.code !== 0) {
    throw new Error(
      `${program} ${args.join(" ")}: ${new TextDecoder().decode(output.stderr).trim()}`,
    );
  }
  return new TextDecoder().decode(output.stdout);
}
