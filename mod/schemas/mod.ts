/**
 * The catalogue of typed messages in one place: the worker RPC methods (messages.ts) and the
 * schemas of what crosses a boundary (HTTP bodies, wire payloads, ledger and market records).
 */
export * from "./json.ts";
export * from "./messages.ts";
export * from "./instance.ts";
export * from "./container.ts";
export * from "./vm.ts";
export * from "./vm_ops.ts";
export * from "./event.ts";
export * from "./host.ts";
export * from "./session.ts";
export * from "./network.ts";
export * from "./ledger.ts";
export * from "./market.ts";
export * from "./ledger_rpc.ts";
export * from "./node_statement.ts";
export * from "./check_vm.ts";
export * from "./metrics.ts";
export * from "./usage.ts";
export * from "./monitor.ts";
export * from "./image_server.ts";
export * from "./lan.ts";
