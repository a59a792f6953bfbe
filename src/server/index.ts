/**
 * The API server layer's surface: the daemon (openDaemon, what `serve`
 * runs), its policy file and its logger. The rest is the layer's own.
 */
export type { ServerOptions } from "./server.ts";
export { openDaemon, type Daemon } from "./daemon.ts";
export { loadPolicy, parsePolicy, type Policy, type PolicyRule } from "./policy.ts";
export { createLogger } from "./logger.ts";
