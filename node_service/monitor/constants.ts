/**
 * The monitoring pushes' numbers, most of them the original's
 * (DBC-AIComputingNet 0.4.1.7, src/dbc/service/node_monitor_service/).
 */

/** `zabbixSender`: each connection's deadline (connect, send, answer), 10 s. */
export const PUSH_CONNECTION_TIMEOUT_MS = 10_000;
/** `zabbixSender::handle_connect`: a server that wanted a host's data is asked again after 300 s. */
export const ACTIVE_CHECK_VALID_MS = 300_000;
/** `zabbixResponse::max_body_length`: a longer answer is not the server's. */
export const MAX_ANSWER_BYTES = 4_096;
/** `on_update_cur_renter_wallet_timer`: who rents the machine is looked up every 3 min. */
export const RENTER_CHECK_INTERVAL_MS = 180_000;
/**
 * The most one round of pushes may take, all servers together (each connection has its own
 * deadline); a round still running when the next is due makes the next wait, never pile up.
 */
export const PUSH_ROUND_DEADLINE_MS = 60_000;
/** How long `virsh domstats` may take for every domain at once. */
export const DOMSTATS_TIMEOUT_MS = 30_000;
/** The Zabbix protocol's header, which opens every request and answer. */
export const ZABBIX_HEADER = "ZBXD";
/** The header's flags byte: 0x01, plain JSON (no compression), as the original sends. */
export const ZABBIX_FLAGS = 0x01;
/** "ZBXD", the flags byte, and the length as 8 bytes little-endian. */
export const ZABBIX_HEADER_BYTES = 13;
