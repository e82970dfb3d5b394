/**
 * polkadot-js reads a few variables of its own (`DEBUG`, `DEBUG_MAX`,
 * `POLKADOTJS_DISABLE_ESM_CJS_WARNING`) through `process.env` while its
 * modules load. The CLI may read only its own `DBC_*` variables, so before
 * those modules load it gets an empty `process.env`; the CLI reads its
 * variables through `Deno.env`. Import this first (`scripts/cli.ts` does).
 */
import process from "node:process";

Object.defineProperty(process, "env", {
  value: {},
  configurable: true,
  enumerable: true,
  writable: true,
});
