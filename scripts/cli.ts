/**
 * The renter CLI: `deno task cli <command> [options]`. It holds the wallet
 * (from `DBC_WALLET_URI` or `DBC_WALLET_MNEMONIC`), signs every request and
 * calls the node's HTTP API at `DBC_API`: machines, rentals, VMs, containers,
 * progress of long operations. `deno task cli help` lists the commands.
 *
 * It runs with network access and its own four variables only
 * (`--allow-net --allow-env=DBC_API,DBC_WALLET_URI,DBC_WALLET_MNEMONIC,DBC_WALLET_TYPE`).
 */
import "./cli/env_shim.ts";
import { runCli } from "./cli/main.ts";

if (import.meta.main) {
  const status = await runCli(Deno.args, {
    env: (name) => Deno.env.get(name),
    out: (text) => console.log(text),
    err: (text) => console.error(text),
  });
  Deno.exit(status);
}
