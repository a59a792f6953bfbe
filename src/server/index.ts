/**
 * The API server layer's surface: the daemon (openDaemon, what `serve`
 * runs), its policy file and its logger. The rest is the layer's own.
 */
export type { ServerOptions } from "./server.ts";
export { openDaemon, type Daemon } from "./daemon.ts";
export { loadPolicy, parsePolicy, policyFrom, type Policy, type PolicyRule } from "./policy.ts";
export { loadConfigFile, loadPolicyFile, type PolicyFile } from "./config-file.ts";
export { configJsonSchema, LOG_LEVELS, type ServeConfigFile } from "./config-schema.ts";
export { createLogger } from "./logger.ts";
