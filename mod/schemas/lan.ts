/**
 * Renters' private networks (the original's `/lan`, `/lan/create`, `/lan/delete`): a renter names a
 * LAN and its IPv4 range on a GPU node, attaches VMs to it at create (`network_name`), and the VMs
 * on it reach each other on that range, across two hosts of the same renter through VXLAN
 * (node_service/lan/). The schemas check the shape; the node service judges the range (private,
 * no overlap with the renter's other LANs or the host's own networks) and the VXLAN peers.
 */
import { z } from "zod";
import { ActorSchema } from "./instance.ts";
import { AccountSchema } from "./ledger.ts";

export const LAN_LIMITS = {
  /** Two hosts of one renter are the case the original serves; a few more cost nothing. */
  maxPeers: 8,
  /** A renter's LANs on one machine: each is a bridge, a libvirt network and a VXLAN device. */
  maxPerAccount: 8,
  /** VXLAN network identifiers are 24 bits; 0 is left out. */
  maxVni: 16_777_215,
} as const;

/** The original's rule (`check_network_name`): 6 to 10 letters or digits. */
export const LanNameSchema = z.string().regex(/^[A-Za-z0-9]{6,10}$/, {
  message: "network name requires a combination of 6 to 10 letters or numbers",
});

/** `a.b.c.d/n`; the node service judges the range itself (node_service/lan/cidr.ts). */
export const LanCidrSchema = z.string().min(9).max(18);

/** An IPv4 address of a host that carries the same LAN (its VXLAN tunnel end). */
export const LanPeerSchema = z.string().min(7).max(15);

export const LanVniSchema = z.number().int().min(1).max(LAN_LIMITS.maxVni);

export const LanSchema = z.object({
  network_name: z.string(),
  /** The range as stored: the network address and the prefix length. */
  ip_cidr: z.string(),
  /**
   * This host's address on the LAN, which serves its DHCP range; null where another host of the
   * renter serves it (a LAN made here with that host's `vxlan_vni`).
   */
  gateway: z.string().nullable(),
  dhcp_start: z.string().nullable(),
  dhcp_end: z.string().nullable(),
  vxlan_vni: z.number().int(),
  /** This host's tunnel end, to be named as a peer on the renter's other host; null if unknown. */
  vtep: z.string().nullable(),
  peers: z.array(z.string()),
  bridge_name: z.string(),
  vxlan_name: z.string(),
  /** The ids of the VMs (not deleted) attached to it. */
  members: z.array(z.string()),
  created_at: z.number().int(),
  /** When a VM last joined (was made on it) or left it (was deleted); else its creation. */
  last_used_at: z.number().int(),
});
export type Lan = z.infer<typeof LanSchema>;
export const LanListSchema = z.object({ networks: z.array(LanSchema) });
export type LanList = z.infer<typeof LanListSchema>;

export const LanListParamsSchema = z.object({
  account: AccountSchema,
  /** One LAN only (not found when the account has none of that name). */
  name: LanNameSchema.optional(),
}).strict();

export const LanCreateParamsSchema = z.object({
  /** Who asks (the account, or the session acting for it); goes to the event log. */
  actor: ActorSchema,
  account: AccountSchema,
  name: LanNameSchema,
  cidr: LanCidrSchema,
  /**
   * The VNI of the same LAN on another host of the renter, to join it; absent: a new LAN whose
   * DHCP range this host serves, with a VNI of its own.
   */
  vni: LanVniSchema.optional(),
  /** The tunnel ends (IPv4) of the renter's other hosts that carry this LAN. */
  peers: z.array(LanPeerSchema).max(LAN_LIMITS.maxPeers).default([]),
}).strict();
export type LanCreateParams = z.infer<typeof LanCreateParamsSchema>;

export const LanDeleteParamsSchema = z.object({
  actor: ActorSchema,
  account: AccountSchema,
  name: LanNameSchema,
}).strict();

/** Replaces the LAN's VXLAN peers (the renter's other hosts' tunnel ends). */
export const LanPeersParamsSchema = z.object({
  actor: ActorSchema,
  account: AccountSchema,
  name: LanNameSchema,
  peers: z.array(LanPeerSchema).max(LAN_LIMITS.maxPeers),
}).strict();
