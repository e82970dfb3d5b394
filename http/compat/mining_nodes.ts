/**
 * `POST /api/v1/mining_nodes`: with an empty `peer_nodes_list`, the GPU nodes
 * this client-end has heard announce themselves (`market.nodes`), each by the
 * machine id original clients name it by; with `[machine id]`, that machine's
 * detail, answered by the GPU node itself from its own announcement, its
 * operator's VM images and the GPUs its VMs hold. Neither needs a signature,
 * as in the original. `/mining_nodes/session_id` is in sessions.ts;
 * `/mining_nodes/free_memory` (dropping the host's page cache) is refused.
 */
import { type MarketNode, VERSION } from "../../mod/mod.ts";
import { scaleSize, sizeInGib } from "./answers.ts";
import { CompatError, invalidRequest, ORIGINAL_CODES } from "./envelope.ts";
import { bodyOf, type Endpoint, type EndpointInput, type Group } from "./endpoint.ts";
import { sessionIdEndpoint } from "./sessions.ts";
import { shownMachineId } from "./target.ts";

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
/** The original's `node_type` of a GPU (computing) node. */
const COMPUTING_NODE_TYPE = "0";
/** VM states whose GPUs count as used. */
const HOLDING_GPUS = new Set(["creating", "running"]);

async function machineDetail(input: EndpointInput) {
  const { call, node } = input.deps;
  const [self, images, vms] = await Promise.all([
    call("market.node", { node_id: node.nodeId }).catch((): MarketNode | undefined => undefined),
    call("vm_image.list", {}),
    call("vm.list", {}),
  ]);
  const disk = self?.disk;
  return {
    version: self?.version ?? VERSION,
    node_type: COMPUTING_NODE_TYPE,
    // The original showed its public address with the middle masked; this node does not know it.
    ip: "",
    os: Deno.build.os,
    cpu: {
      type: self?.cpu.model ?? "",
      hz: "",
      cores: String(self?.cpu.cores ?? ""),
      used_usage: "",
      physical_cpus: "",
    },
    gpu: {
      gpu_count: String(self?.gpu_count ?? 0),
      gpu_used: String(
        vms.vms.filter((vm) => HOLDING_GPUS.has(vm.state))
          .reduce((sum, vm) => sum + vm.gpu_devices.length, 0),
      ),
    },
    mem: {
      size: self?.memory_total_mib == null ? "" : sizeInGib(self.memory_total_mib * MIB),
      free: "",
      used_usage: "",
    },
    disk_system: { type: "", size: disk ? `${disk.total_gib}G` : "" },
    disk_data: disk
      ? [{
        path: "vm_dir",
        type: "",
        size: sizeInGib(disk.total_gib * GIB),
        free: sizeInGib(disk.free_gib * GIB),
        used_usage: disk.total_gib === 0
          ? "0%"
          : `${(100 * (disk.total_gib - disk.free_gib) / disk.total_gib).toFixed(2)}%`,
      }]
      : [],
    // The operator's images, which every renter may boot.
    images: images.images
      .filter((image) => image.added_by === null && image.state === "ready")
      .map((image) => ({ image_name: image.name, image_size: scaleSize(image.size_bytes ?? 0) })),
  };
}

const nodes: Endpoint = {
  name: "query node info",
  at: "peer_or_here",
  signed: false,
  async run(input) {
    if (bodyOf(input).peer !== undefined) return await machineDetail(input);
    const { nodes } = await input.deps.call("market.nodes", {});
    return {
      mining_nodes: nodes.map((node) => ({
        node_id: shownMachineId(node),
        name: node.node_id,
        version: node.version,
      })),
    };
  },
};

const freeMemory: Endpoint = {
  name: "free memory",
  at: "here",
  signed: false,
  bodyless: true,
  run() {
    throw new CompatError(
      200,
      ORIGINAL_CODES.denied,
      "mining_nodes/free_memory is not supported: the node does not drop its host's page cache",
    );
  },
};

/** `/api/v1/mining_nodes[/session_id|/free_memory]`. */
export const miningNodeRoutes: Group = (segments) => {
  const [word, ...rest] = segments;
  if (word === undefined) return { endpoint: nodes, args: [] };
  if (rest.length === 0 && word === "session_id") return { endpoint: sessionIdEndpoint, args: [] };
  if (rest.length === 0 && word === "free_memory") return { endpoint: freeMemory, args: [] };
  throw invalidRequest("invalid requests uri");
};
