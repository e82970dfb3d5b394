/** The network layer's public face. */
export const NETWORK_WORKER_URL = new URL("./worker.ts", import.meta.url);
export { NETWORK_MIGRATIONS } from "./migrations.ts";
