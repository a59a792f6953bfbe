/**
 * Global setup of the test runs (`node --test --test-global-setup`): builds
 * the job launcher when a C source is newer than the binary, so tests run
 * the code as edited. (The worker never builds it: it finds it at open.)
 */
import { launcherPath } from "../native/build.ts";

export function globalSetup(): void {
  launcherPath();
}
