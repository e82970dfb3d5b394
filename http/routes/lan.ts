/**
 * The renter's private networks on a GPU node (`/api/v1/lan`, forwarded to the GPU node like the
 * VM paths; node_service/lan/): make a named LAN with a private IPv4 range, list and delete it,
 * and name the renter's other hosts that carry it (VXLAN). VMs join a LAN at create
 * (`network_name`). Making a LAN or changing its peers takes the machine's current renter; listing
 * and deleting one's own LANs only the signature (a former renter may still clean up).
 */
import { z } from "zod";
import {
  LAN_LIMITS,
  LanCidrSchema,
  LanListSchema,
  LanNameSchema,
  LanPeerSchema,
  LanSchema,
  LanVniSchema,
} from "../../mod/mod.ts";
import type { ApiRoutes } from "../api_route.ts";
import type { WalletAuthenticator } from "../auth.ts";
import { ApiError } from "../errors.ts";
import { NodeQuery, SIGNED_ROUTE_ERRORS, TargetFields } from "./common.ts";
import type { InstanceRouteDeps } from "./instances.ts";
import { rentalRoutes, signedRoutes } from "./renter.ts";

const SIGNED = "Wallet-signed by the renter, or its delegated session.";
const NameParams = z.object({ network_name: LanNameSchema });

export function lanRoutes(
  routes: ApiRoutes,
  deps: Pick<InstanceRouteDeps, "call" | "node">,
  auth: WalletAuthenticator,
): void {
  const addRentalRoute = rentalRoutes(routes, deps, auth, SIGNED);
  const addSignedRoute = signedRoutes(routes, auth, SIGNED);

  addSignedRoute({
    method: "get",
    path: "/api/v1/lan",
    summary: "The signer's private networks on this machine",
    tags: ["lan"],
    query: NodeQuery,
    response: LanListSchema,
  }, async (who) => {
    return await deps.call("lan.list", { account: who.account });
  });

  addSignedRoute({
    method: "get",
    path: "/api/v1/lan/:network_name",
    summary: "One of the signer's private networks, with the VMs on it",
    tags: ["lan"],
    params: NameParams,
    query: NodeQuery,
    response: LanSchema,
  }, async (who, { params }) => {
    const list = await deps.call("lan.list", { account: who.account, name: params.network_name });
    // The node service refuses an unknown name; an empty answer (a node of another version) is
    // the same 404, never an answer outside the schema.
    const network = list.networks.find((candidate) =>
      candidate.network_name === params.network_name
    );
    if (!network) throw new ApiError("not_found", `no network ${params.network_name} of yours`);
    return network;
  });

  addRentalRoute({
    method: "post",
    path: "/api/v1/lan/create",
    summary: "Make a private network: a bridge with a DHCP range, carried to named peers by VXLAN",
    description: `${SIGNED} The machine's current renter. \`ip_cidr\` is a private IPv4 range ` +
      "(/16 to /29) that overlaps none of the renter's other networks nor the host's own; the " +
      "host takes its first address and hands out the rest by DHCP. To carry the same network " +
      "on another of the renter's hosts, make it there with this one's `vxlan_vni` and `vtep` " +
      "as peer (that host serves no DHCP), then name that host's `vtep` here " +
      "(`/api/v1/lan/{network_name}/peers`).",
    tags: ["lan"],
    body: z.object({
      ...TargetFields,
      network_name: LanNameSchema,
      ip_cidr: LanCidrSchema,
      vxlan_vni: LanVniSchema.optional(),
      peers: z.array(LanPeerSchema).max(LAN_LIMITS.maxPeers).default([]),
    }),
    response: LanSchema,
    successStatus: 201,
    errors: ["invalid_params", ...SIGNED_ROUTE_ERRORS],
  }, async (who, { body }) => {
    return await deps.call("lan.create", {
      actor: who.actor,
      account: who.account,
      name: body.network_name,
      cidr: body.ip_cidr,
      vni: body.vxlan_vni,
      peers: body.peers,
    });
  });

  addRentalRoute({
    method: "post",
    path: "/api/v1/lan/:network_name/peers",
    summary: "Name the renter's other hosts (VXLAN tunnel ends) that carry this network",
    description: `${SIGNED} The machine's current renter. Replaces the list; empty: the ` +
      "network stays on this host alone.",
    tags: ["lan"],
    params: NameParams,
    body: z.object({
      ...TargetFields,
      peers: z.array(LanPeerSchema).max(LAN_LIMITS.maxPeers),
    }),
    response: LanSchema,
    errors: ["invalid_params", ...SIGNED_ROUTE_ERRORS],
  }, async (who, { params, body }) => {
    return await deps.call("lan.peers", {
      actor: who.actor,
      account: who.account,
      name: params.network_name,
      peers: body.peers,
    });
  });

  addSignedRoute({
    method: "post",
    path: "/api/v1/lan/:network_name/delete",
    summary: "Delete a private network no VM is on",
    description: `${SIGNED} Refused (409) while VMs are attached: delete them first.`,
    tags: ["lan"],
    params: NameParams,
    body: z.object(TargetFields),
    response: LanSchema,
  }, async (who, { params }) => {
    return await deps.call("lan.delete", {
      actor: who.actor,
      account: who.account,
      name: params.network_name,
    });
  });
}
