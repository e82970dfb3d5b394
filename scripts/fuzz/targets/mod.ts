/**
 * Every fuzz target, by name, loaded on demand (a worker loads only the one
 * it runs). Each module exports `target` (see ../target.ts).
 */
import type { FuzzTarget } from "../target.ts";

// deno-lint-ignore no-explicit-any
type TargetModule = { target: FuzzTarget<any> };

const LOADERS = {
  "wire.frames": () => import("./wire_frames.ts"),
  "wire.messages": () => import("./wire_messages.ts"),
  "network.peer": () => import("./network_peer.ts"),
  "wallet.ss58": () => import("./wallet_ss58.ts"),
  "wallet.multisig": () => import("./wallet_multisig.ts"),
  "wallet.signature": () => import("./wallet_signature.ts"),
  "wallet.request_auth": () => import("./wallet_request_auth.ts"),
  "wallet.replay_guard": () => import("./wallet_replay_guard.ts"),
  "http.routes": () => import("./http_routes.ts"),
  "http.remote": () => import("./http_remote.ts"),
  "http.compat": () => import("./http_compat.ts"),
  "docker.wire": () => import("./docker_wire.ts"),
  "docker.logs": () => import("./docker_logs.ts"),
  "docker.tar": () => import("./docker_tar.ts"),
  "libvirt.virsh": () => import("./libvirt_virsh.ts"),
  "libvirt.domain_xml": () => import("./libvirt_domain_xml.ts"),
  "cloud_init.fat": () => import("./cloud_init_fat.ts"),
  "cloud_init.seed": () => import("./cloud_init_seed.ts"),
  "chain.rentals": () => import("./chain_rentals.ts"),
  "ledger.rpc": () => import("./ledger_rpc.ts"),
  "validation.console": () => import("./validation_console.ts"),
  "market.table": () => import("./market_table.ts"),
} as const satisfies Record<string, () => Promise<TargetModule>>;

/** Targets that break their contract on purpose (harness.ts): run only when named. */
const HARNESS = {
  "harness.throws": async () => ({ target: (await import("./harness.ts")).throws }),
  "harness.hangs": async () => ({ target: (await import("./harness.ts")).hangs }),
  "harness.escapes": async () => ({ target: (await import("./harness.ts")).escapes }),
  "harness.leaks": async () => ({ target: (await import("./harness.ts")).leaks }),
} as const satisfies Record<string, () => Promise<TargetModule>>;

export type TargetName = keyof typeof LOADERS;
/** Every real target, in the order a full run takes them. */
export const TARGET_NAMES = Object.keys(LOADERS) as TargetName[];
export const HARNESS_TARGET_NAMES = Object.keys(HARNESS) as (keyof typeof HARNESS)[];

/** The target called `name`; throws for an unknown name. */
export async function loadTarget(name: string): Promise<FuzzTarget> {
  const loaders: Record<string, () => Promise<TargetModule>> = { ...LOADERS, ...HARNESS };
  const load = Object.hasOwn(loaders, name) ? loaders[name] : undefined;
  if (!load) throw new Error(`no fuzz target ${name}`);
  const { target } = await load();
  if (target.name !== name) throw new Error(`target module ${name} names itself ${target.name}`);
  return target;
}
