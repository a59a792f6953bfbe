/** The API server layer's public surface. */
export { startServer, type RunningServer, type ServerOptions } from "./server.ts";
export { openDaemon, type Daemon, type DaemonConfig } from "./daemon.ts";
export type { TlsFiles } from "./tls.ts";
export type { KeepaliveOptions } from "./keepalive.ts";
export {
  loadPolicy,
  parsePolicy,
  type Policy,
  type PolicyRule,
  type SeccompMode,
  type UserCaps,
} from "./policy.ts";
export { createLogger, type Logger, type LoggerOptions } from "./logger.ts";
export type { Identity } from "./identity.ts";
export { ServingStatus, type HealthState } from "./health.ts";
