/**
 * A node service that dies in the middle of a download, for restart_test.ts: it opens the image
 * servers of the node in `Deno.args[0]` (server `Deno.args[1]`, id=URL), starts the operator's
 * download of `Deno.args[2]`, prints its record as one JSON line once bytes arrive, and waits
 * for the test to kill it.
 */
import { waitFor } from "../../helpers.ts";
import { openImageServers } from "./image_server_fixture.ts";

const [dir, server, remoteName] = Deno.args;
if (!dir || !server || !remoteName) throw new Error("usage: transfer_child.ts DIR ID=URL FILE");
const { setting } = await openImageServers(dir, [server]);
const started = await setting.call("image_server.download", {
  actor: "operator",
  server: server.split("=")[0]!,
  remote_name: remoteName,
});
const moving = await waitFor("bytes arriving", async () => {
  const now = await setting.call("image_server.transfer", { transfer_id: started.transfer_id });
  return now.done_bytes > 0 ? now : undefined;
});
console.log(JSON.stringify(moving));
// Killed here, as a crash would: nothing is closed.
await new Promise(() => {});
