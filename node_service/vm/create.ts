/**
 * Creating a VM: validate request -> check images -> allocate GPUs -> seed
 * disk (Linux: the login user, keys and password for cloud-init) -> qcow2
 * overlay -> domain XML -> define (libvirt validates the XML against its
 * schema) -> start; a failure at any step undoes the steps before it.
 */
import { RpcError, transaction, type Vm, type VmCreateRequest } from "../../mod/mod.ts";
import type { GpuWant } from "../gpu/mod.ts";
import { buildScriptSeedImage, buildSeedImage } from "./cloud_init/mod.ts";
import { pickFreePort, type PortKey, portKey } from "../host/mod.ts";
import type { VmNetworkSetting } from "./config.ts";
import { GENERATED_PASSWORD_LENGTH, VM_DIR_MODE, VM_FILES } from "./constants.ts";
import { createOverlay } from "./disk.ts";
import { requireLoginPortInRange } from "./modify_plan.ts";
import type { VmSpec } from "./store.ts";
import type { VmCore } from "./vm_core.ts";
import { GIB } from "./vm_helpers.ts";

const ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";

/** Creates (and by default starts) a VM; resolves once libvirt reports it running. */
export async function create(core: VmCore, request: VmCreateRequest): Promise<Vm> {
  // The operator's range only (vm_port_range), never the host's own services' ports.
  requireLoginPortInRange(request.login_port, core.options.loginPorts);
  requireLoginPortInRange(request.vnc_port, core.options.loginPorts, "VNC");
  if (request.vnc_port !== undefined && request.vnc_port === request.login_port) {
    throw new RpcError("invalid_params", `login and VNC ports are both ${request.vnc_port}`);
  }
  requireCustomPorts(core, request);
  const id = request.id ?? newVmId();
  if (core.store.get(id)) throw new RpcError("conflict", `a VM with id ${id} already exists`);
  const domain = `${core.options.domainPrefix}${id}`;
  return await core.logged(request.actor, "vm.create", id, async (detail) => {
    // Before anything is written: libvirt would otherwise fail half-way through.
    const refusal = await core.options.hostRefusal?.();
    if (refusal !== undefined) throw new RpcError("unavailable", refusal);
    const owner = request.owner ?? request.actor;
    const guestLogin = guestLoginFor(core, request);
    // What was asked for, never the password itself.
    if (guestLogin) {
      detail.login = {
        user: guestLogin.user,
        ssh_keys: guestLogin.ssh_keys.length,
        password: request.password === undefined ? "generated" : "given",
        password_ssh: guestLogin.password_ssh,
      };
    }
    // The images as this owner may boot them (its own of a name, else the operator's; never
    // another renter's), checked now, before anything is written. The record keeps the stored
    // keys, so the domain XML always finds the very images the VM was made from.
    const images = core.options.images;
    const base = images.readyImageFor(owner, request.image);
    const kernel = request.direct_boot
      ? images.readyImageFor(owner, request.direct_boot.kernel_image).name
      : undefined;
    const initrd = request.direct_boot?.initrd_image === undefined
      ? null
      : images.readyImageFor(owner, request.direct_boot.initrd_image).name;
    const diskBytes = request.disk_gib === undefined ? undefined : request.disk_gib * GIB;
    if (diskBytes !== undefined && diskBytes < base.virtualSizeBytes) {
      throw new RpcError(
        "invalid_params",
        `disk_gib ${request.disk_gib} is smaller than image ${base.name} (${base.virtualSizeBytes} bytes)`,
      );
    }
    const lan = request.network_name === undefined
      ? undefined
      : lanFor(core, owner, request.network_name);
    const want = gpuWant(request.gpus);
    const inventory = wantsGpus(want) ? await gpuInventory(core) : [];
    await core.options.diskGuard?.require(core.options.vmDir, 0, `a new VM (${id})`);
    const userNetwork = core.options.network.mode === "user";
    if (!userNetwork && request.custom_ports.length > 0) {
      throw new RpcError(
        "invalid_params",
        "custom ports are forwarded by QEMU's user-mode network only; this node's vm_network is " +
          `${core.options.network.mode} (the guest has an address of its own)`,
      );
    }
    const hostPorts = userNetwork || request.vnc_port !== undefined
      ? await core.options.listeningPorts()
      : new Set<PortKey>();

    // From here to the allocation nothing awaits, so two creates cannot pick the same port.
    if (request.vnc_port !== undefined) requireFreePort(core, "VNC", request.vnc_port, hostPorts);
    for (const forward of request.custom_ports) {
      requireFreePort(core, `custom ${forward.protocol}`, forward.host_port, hostPorts);
      if (hostPorts.has(portKey(forward.protocol, forward.host_port))) {
        throw new RpcError("conflict", `port ${forward.host_port} is in use on this host`);
      }
    }
    const loginPort = userNetwork
      ? pickLoginPort(core, request.login_port, hostPorts, [
        ...(request.vnc_port === undefined ? [] : [request.vnc_port]),
        ...request.custom_ports.map((forward) => forward.host_port),
      ])
      : null;
    const spec: VmSpec = {
      uuid: crypto.randomUUID(),
      cpu_cores: request.cpu_cores,
      memory_mib: request.memory_mib,
      disk_gib: request.disk_gib ?? null,
      firmware: request.firmware,
      mac_address: randomMac(),
      network: networkView(core.options.network),
      listen_address: core.options.listenAddress,
      direct_boot: request.direct_boot && kernel !== undefined
        ? { kernel_image: kernel, initrd_image: initrd, cmdline: request.direct_boot.cmdline }
        : null,
      ...(guestLogin ? { guest_login: guestLogin } : {}),
      ...(request.guest_script === undefined ? {} : { guest_script: request.guest_script }),
      desc: request.desc,
      ...(request.custom_ports.length > 0 ? { custom_ports: request.custom_ports } : {}),
    };
    if (lan) spec.lan = { ...lan, mac_address: otherMac(spec.mac_address) };
    // The record and its GPUs land together, or neither does.
    transaction(core.options.db, () => {
      core.store.insert({
        id,
        domain,
        owner,
        state: "creating",
        os: request.os,
        image: base.name,
        loginPort,
        vncPort: request.vnc_port ?? null,
        vncPassword: randomVncPassword(),
        spec,
        lastError: null,
      });
      return core.options.gpus.allocateGpus(id, "vm", want, inventory);
    });
    core.recordWaiters.settle(id);

    const dir = core.vmPath(id);
    let defined = false;
    // Reconciliation running meanwhile must not take this create for one a restart cut short.
    core.creating.add(id);
    try {
      await Deno.mkdir(dir, { mode: VM_DIR_MODE });
      await Deno.chmod(dir, VM_DIR_MODE);
      if (guestLogin) {
        const seed = buildSeedImage({
          instanceId: id,
          hostname: id,
          login: {
            user: guestLogin.user,
            password: guestLogin.password,
            sshKeys: guestLogin.ssh_keys,
            passwordSsh: guestLogin.password_ssh,
          },
        });
        // Only the node's user reads it; libvirt hands it to QEMU's user when the guest starts.
        await Deno.writeFile(`${dir}/${VM_FILES.seed}`, seed, { mode: 0o600 });
      } else if (request.guest_script !== undefined) {
        const seed = buildScriptSeedImage({
          instanceId: id,
          hostname: id,
          script: request.guest_script,
        });
        await Deno.writeFile(`${dir}/${VM_FILES.seed}`, seed, { mode: 0o600 });
      }
      await createOverlay(base, `${dir}/${VM_FILES.disk}`, diskBytes);
      const xml = core.domainXml(core.store.get(id)!);
      await Deno.writeTextFile(`${dir}/${VM_FILES.domainXml}`, xml, { mode: 0o600 });
      await core.options.hypervisor.define(`${dir}/${VM_FILES.domainXml}`);
      defined = true;
      if (request.start) await core.options.hypervisor.start(domain);
    } catch (error) {
      await core.undoCreate(id, domain, defined, error);
      throw error;
    } finally {
      // Nothing awaits between here and the record's new state.
      core.creating.delete(id);
    }
    const state = request.start ? "running" : "stopped";
    return core.view(core.store.setState(id, state));
  }, { image: request.image, cpu_cores: request.cpu_cores, memory_mib: request.memory_mib });
}

/** The login a Linux guest gets from its seed disk; Windows gets none (and may ask for none). */
function guestLoginFor(core: VmCore, request: VmCreateRequest): VmSpec["guest_login"] {
  if (request.guest_script !== undefined) {
    // The script is the seed's whole user-data: there is no room for a login user's config.
    if (request.os !== "linux" || request.ssh_keys.length > 0 || request.password !== undefined) {
      throw new RpcError("invalid_params", "a guest script is for a Linux VM without a login");
    }
    return undefined;
  }
  if (request.os !== "linux") {
    if (request.ssh_keys.length > 0 || request.password !== undefined) {
      throw new RpcError(
        "invalid_params",
        "ssh_keys and password are for Linux VMs (cloud-init); a Windows image brings its own login",
      );
    }
    return undefined;
  }
  return {
    user: core.options.loginUser,
    password: request.password ?? randomPassword(),
    // A renter who gave keys and no password logs in with the keys alone; the generated
    // password then serves the console (VNC).
    password_ssh: request.password !== undefined || request.ssh_keys.length === 0,
    ssh_keys: [...request.ssh_keys],
  };
}

async function gpuInventory(core: VmCore) {
  const report = await core.options.gpuReport();
  if (report.state !== "present") {
    throw new RpcError(
      "not_found",
      `GPUs asked for, but this node has none usable: ${report.reason}`,
    );
  }
  return report.gpus;
}

/** A host port a renter named: free of other VMs' ports and of the host's listeners. */
function requireFreePort(
  core: VmCore,
  what: string,
  port: number,
  hostPorts: ReadonlySet<PortKey>,
): void {
  if (core.store.loginPortsInUse().has(port)) {
    throw new RpcError("conflict", `${what} port ${port} is taken by another VM`);
  }
  if (hostPorts.has(portKey("tcp", port))) {
    throw new RpcError("conflict", `${what} port ${port} is in use on this host`);
  }
}

function pickLoginPort(
  core: VmCore,
  asked: number | undefined,
  hostPorts: ReadonlySet<PortKey>,
  /** The VM's own other host ports (VNC, custom forwards). */
  ownPorts: number[],
): number {
  if (asked !== undefined) {
    requireFreePort(core, "login", asked, hostPorts);
    return asked;
  }
  const byVms = core.store.loginPortsInUse();
  for (const port of ownPorts) byVms.add(port);
  const taken = new Set([...hostPorts, ...[...byVms].map((port) => portKey("tcp", port))]);
  const port = pickFreePort(core.options.loginPorts, "tcp", taken);
  if (port === undefined) {
    const { first, last } = core.options.loginPorts;
    throw new RpcError("conflict", `no free login port in ${first}-${last}`);
  }
  return port;
}

/**
 * The custom forwards of a create: each host port in the operator's range (`vm_port_range`), none
 * twice, none the VM's login or VNC port. Whether another VM or the host holds one is checked
 * with the other ports.
 */
function requireCustomPorts(core: VmCore, request: VmCreateRequest): void {
  const seen = new Set<number>();
  for (const forward of request.custom_ports) {
    const port = forward.host_port;
    requireLoginPortInRange(port, core.options.loginPorts, `custom ${forward.protocol}`);
    if (seen.has(port) || port === request.login_port || port === request.vnc_port) {
      throw new RpcError("invalid_params", `host port ${port} is named twice in this request`);
    }
    seen.add(port);
  }
}

/** The owner's private network of that name (node_service/lan/); refused where there is none. */
function lanFor(core: VmCore, owner: string, name: string) {
  if (!core.options.lanAttachment) {
    throw new RpcError("invalid_params", "this node has no private networks (network_name)");
  }
  return core.options.lanAttachment(owner, name);
}

/** A MAC address for a second NIC, never the first's. */
function otherMac(first: string): string {
  for (;;) {
    const mac = randomMac();
    if (mac !== first) return mac;
  }
}

function gpuWant(request: VmCreateRequest["gpus"]): GpuWant {
  if ("count" in request) return { count: request.count };
  if ("indexes" in request) return { indexes: request.indexes };
  return { uuids: request.uuids };
}

function wantsGpus(want: GpuWant): boolean {
  if ("count" in want) return want.count > 0;
  return ("indexes" in want ? want.indexes : want.uuids).length > 0;
}

function networkView(setting: VmNetworkSetting): VmSpec["network"] {
  switch (setting.mode) {
    case "user":
      return { mode: "user", source: null };
    case "bridge":
      return { mode: "bridge", source: setting.bridge };
    case "network":
      return { mode: "network", source: setting.network };
  }
}

/** `vm-` and 10 random base-32 characters. */
export function newVmId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(10));
  return `vm-${[...bytes].map((byte) => ID_ALPHABET[byte % 32]).join("")}`;
}

function randomMac(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(3));
  return `52:54:00:${[...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join(":")}`;
}

/** A login password from an alphabet without look-alikes, each character unbiased. */
function randomPassword(): string {
  const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789";
  // Bytes at or above the largest multiple of the alphabet's size would favour its first letters.
  const limit = 256 - (256 % alphabet.length);
  let password = "";
  while (password.length < GENERATED_PASSWORD_LENGTH) {
    for (const byte of crypto.getRandomValues(new Uint8Array(GENERATED_PASSWORD_LENGTH))) {
      if (byte < limit && password.length < GENERATED_PASSWORD_LENGTH) {
        password += alphabet[byte % alphabet.length];
      }
    }
  }
  return password;
}

function randomVncPassword(): string {
  const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789";
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return [...bytes].map((byte) => alphabet[byte % alphabet.length]).join("");
}
