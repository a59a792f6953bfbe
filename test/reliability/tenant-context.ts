/**
 * What every attack of the hostile-tenant section works with: the server
 * under attack, mallory (the hostile user), bob (an innocent one, whose
 * status calls on his running job are timed all along), a folder every job
 * can see, and the section's checks.
 */
import type { JobClient } from "../../src/client/index.ts";
import type { Job } from "../../src/gen/jobworker/v1/jobworker_pb.js";
import type { Checks, Pki, ServerProcess } from "./harness.ts";
import type { LatencyProbe } from "./latency-probe.ts";

export interface Tenancy {
  pki: Pki;
  server: ServerProcess;
  checks: Checks;
  mallory: JobClient;
  bob: JobClient;
  /** bob's job, printing a line every 0.1 s until the section ends. */
  bobJob: Job;
  /** bob's GetJob on `bobJob`, timed every 20 ms. */
  probe: LatencyProbe;
  /** Readable by every job uid: not under /tmp, which each job sees as its own. */
  visibleDir: string;
  /** The server's deny list (`serve --deny-list`). */
  denyList: string;
}
