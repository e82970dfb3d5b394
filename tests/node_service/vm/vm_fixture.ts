/**
 * A VM service over real libvirt (TCG), a real SQLite file and real image
 * files, the way the worker builds it, plus the test guest's images added to
 * it. Closing and opening again over the same files is a node restart.
 */
import type { DiskGuard } from "../../../node_service/host/disk_space.ts";
import {
  type DatabaseSync,
  type GpuReport,
  openDatabase,
  silentLogger,
  type VmCreateParams,
  VmCreateParamsSchema,
} from "../../../mod/mod.ts";
import { EventLog } from "../../../node_service/event_log.ts";
import { GpuAllocator } from "../../../node_service/gpu/allocation.ts";
import { listeningPorts } from "../../../node_service/host/ports.ts";
import type { Hypervisor } from "../../../node_service/vm/libvirt/hypervisor.ts";
import { ImageStore } from "../../../node_service/vm/images/image_store.ts";
import { LibvirtHypervisor } from "../../../node_service/vm/libvirt/libvirt.ts";
import { SERVICE_MIGRATIONS } from "../../../node_service/migrations.ts";
import { VmService, type VmServiceOptions } from "../../../node_service/vm/service.ts";
import { VmStore } from "../../../node_service/vm/store.ts";
import { LIBVIRT_URI, TEST_DOMAIN_TYPE, type TestGuest } from "./libvirt_fixture.ts";

export const NO_GPUS: GpuReport = { state: "none", gpus: [], reason: "no GPU here", queried_at: 0 };

export type VmSetting = {
  db: DatabaseSync;
  events: EventLog;
  images: ImageStore;
  gpus: GpuAllocator;
  service: VmService;
  close(): Promise<void>;
};

export function openVmSetting(options: {
  dir: string;
  prefix: string;
  gpuReport?: GpuReport;
  uri?: string;
  /** Wraps the real hypervisor, e.g. to make something happen between two steps. */
  hypervisor?: (real: Hypervisor) => Hypervisor;
  /** Free-space reserve for VM disks and images; none when absent. */
  diskGuard?: DiskGuard;
  /** Where VM disks go; `<dir>/vms` when absent. */
  vmDir?: string;
  /** Why the host cannot run VMs (node_service/host/facts.ts); no host check when absent. */
  hostRefusal?: () => Promise<string | undefined>;
  /** The renters' private networks a create may name (node_service/lan/); none when absent. */
  lanAttachment?: VmServiceOptions["lanAttachment"];
}): VmSetting {
  const db = openDatabase(`${options.dir}/node.db`, SERVICE_MIGRATIONS);
  const events = new EventLog(db, Date.now);
  const gpus = new GpuAllocator(db, Date.now);
  const records = new VmStore(db, Date.now);
  const images = new ImageStore({
    db,
    imageDir: `${options.dir}/images`,
    now: Date.now,
    usersOf: (name) => records.usersOfImage(name),
    diskGuard: options.diskGuard,
  });
  const service = new VmService({
    db,
    events,
    hypervisor: (options.hypervisor ?? ((real) => real))(
      new LibvirtHypervisor({ uri: options.uri ?? LIBVIRT_URI }),
    ),
    images,
    gpus,
    gpuReport: () => Promise.resolve(options.gpuReport ?? NO_GPUS),
    vmDir: options.vmDir ?? `${options.dir}/vms`,
    domainType: TEST_DOMAIN_TYPE,
    network: { mode: "user" },
    listenAddress: "127.0.0.1",
    // The tests name login ports the kernel just handed out (freePort): any unprivileged one.
    loginPorts: { first: 1024, last: 65535 },
    loginUser: "dbc",
    listeningPorts,
    domainPrefix: options.prefix,
    diskGuard: options.diskGuard,
    hostRefusal: options.hostRefusal,
    lanAttachment: options.lanAttachment,
    now: Date.now,
    log: silentLogger,
  });
  return {
    db,
    events,
    images,
    gpus,
    service,
    async close() {
      await service.close();
      await images.close();
      db.close();
    },
  };
}

/** Copies the test guest's disk, kernel and initrd into the image store. */
export async function addGuestImages(images: ImageStore, guest: TestGuest): Promise<void> {
  for (
    const [name, path] of [["base.qcow2", guest.baseDisk], ["vmlinuz", guest.kernel], [
      "initrd.img",
      guest.initrd,
    ]]
  ) {
    const image = await images.add(name!, { kind: "path", path: path! }).done;
    if (image.state !== "ready") throw new Error(`cannot add ${name}: ${image.error}`);
  }
}

/** A create request for the test guest (booted straight into its kernel). */
export function guestRequest(guest: TestGuest, overrides: Partial<VmCreateParams> = {}) {
  return VmCreateParamsSchema.parse({
    actor: "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
    image: "base.qcow2",
    cpu_cores: 1,
    memory_mib: 256,
    direct_boot: { kernel_image: "vmlinuz", initrd_image: "initrd.img", cmdline: guest.cmdline },
    ...overrides,
  });
}

/** How many times `text` occurs in the guest's console log so far. */
export async function consoleCount(path: string, text: string): Promise<number> {
  try {
    return (await Deno.readTextFile(path)).split(text).length - 1;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return 0;
    throw error;
  }
}

/**
 * Whether the guest's current boot has finished starting (its last boot marker is followed by
 * `ready`): counting `ready` lines is not enough, since a reset can cut a boot short before it.
 */
export async function bootFinished(path: string, marker: string, ready: string): Promise<boolean> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
  const lastMarker = text.lastIndexOf(marker);
  return lastMarker !== -1 && text.indexOf(ready, lastMarker) !== -1;
}
