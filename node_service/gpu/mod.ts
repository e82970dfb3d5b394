/** The public face of node_service/gpu/: what the rest of the node may use. */
export {
  type GpuAllocation,
  GpuAllocationError,
  GpuAllocator,
  type GpuWant,
} from "./allocation.ts";
export {
  GPU_QUERY_FIELDS,
  GpuInventory,
  gpuReportFrom,
  NVIDIA_SMI_ARGS,
  parseGpuCsv,
} from "./inventory.ts";
export { libvirtPciAttributes, parsePciBusId, type PciAddress } from "./pci_address.ts";
