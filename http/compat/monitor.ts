/**
 * `POST /api/v1/monitor` and `POST /api/v1/monitor/set`: the renter's
 * monitoring servers in the original dialect (`{servers: ["host:port"]}`
 * and `"ok"`), answered by the GPU node with the native calls
 * (`monitor.list`, `monitor.set`; node_service/monitor/). Only the machine's
 * renter (or its session); `additional.servers` is an array of at most two
 * `"host:port"` strings, and a refusal (errcode 1, in the original's words
 * where it had them) keeps the old list.
 */
import { MAX_MONITOR_SERVERS } from "../../mod/mod.ts";
import { requireRenting } from "./access.ts";
import { invalidRequest, refused } from "./envelope.ts";
import { bodyOf, type Endpoint, type Group, renter } from "./endpoint.ts";

const list: Endpoint = {
  name: "list monitor server",
  at: "node",
  signed: true,
  async run(input) {
    const who = await renter(input);
    await requireRenting(input, who.account);
    return await input.deps.call("monitor.list", { account: who.account });
  },
};

const set: Endpoint = {
  name: "set monitor server",
  at: "node",
  signed: true,
  async run(input) {
    const who = await renter(input);
    await requireRenting(input, who.account);
    const servers = bodyOf(input).additional.servers;
    if (servers === undefined) throw refused("additional has no servers");
    if (!Array.isArray(servers)) throw refused("servers must be an array");
    if (servers.length > MAX_MONITOR_SERVERS) throw refused("can not enter more than two servers");
    if (servers.some((server) => typeof server !== "string")) {
      throw refused("server not match format ip:port");
    }
    await input.deps.call("monitor.set", {
      actor: who.actor,
      account: who.account,
      servers: servers as string[],
    });
    return "ok";
  },
};

/** `/api/v1/monitor[/set]`; as in the original, another single word lists too. */
export const monitorRoutes: Group = (segments) => {
  if (segments.length === 0) return { endpoint: list, args: [] };
  if (segments.length === 1) return { endpoint: segments[0] === "set" ? set : list, args: [] };
  throw invalidRequest("invalid requests uri");
};
