/** The numbers of renters' LANs (node_service/lan/), in one place. */

/** A LAN wider than a /16 would hold more VMs than any renter has, and swallow host networks. */
export const MIN_PREFIX = 16;
/** A /29 still holds the gateway and five VMs. */
export const MAX_PREFIX = 29;
/** RFC 1918: a LAN in a public range would take that part of the internet from the host. */
export const PRIVATE_RANGES = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"] as const;

/** The IANA VXLAN port, as the original uses (`dstport 4789`). */
export const VXLAN_PORT = 4789;
/**
 * The LAN's MTU, the original's: 1500 less the VXLAN encapsulation (50 bytes), so a guest's full
 * frame still fits one packet of the hosts' network. libvirt hands it to virtio guests.
 */
export const LAN_MTU = 1450;

/** How long one `ip`, `bridge` or `virsh` call may take. */
export const LAN_TOOL_TIMEOUT_MS = 30_000;

/** Lease time of the LAN's DHCP range. */
export const DHCP_LEASE = { value: 10, unit: "hours" } as const;

/** How many random VNIs are tried before the host is called full (it never is in practice). */
export const VNI_TRIES = 64;
