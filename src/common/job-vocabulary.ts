/**
 * The words for where a job is and how it ended: one vocabulary for the
 * library, the API (its enums map onto these one to one) and the CLI's
 * JSON.
 */

/**
 * Lifecycle of a job. `queued`: accepted, waiting for its turn within the
 * host's capacity; `starting`: cgroup and launcher being set up; `running`:
 * the command has been exec'ed; the rest are final.
 */
export type JobState = "queued" | "starting" | "running" | "succeeded" | "failed" | "stopped";

/**
 * What a stop came to: the job `never-started` (it was queued), had
 * `already-ended` (on its own, before SIGTERM went out), was `terminated`
 * (ended after SIGTERM, within the grace period) or `force-ended` (SIGKILL,
 * after the grace period or with none).
 */
export type StopOutcome = "already-ended" | "never-started" | "terminated" | "force-ended";

/**
 * Why a job ended. `start-failed`: its command never ran; `exited` and
 * `signaled`: it ended by itself; `oom`: the kernel's OOM killer ended it;
 * `timeout`, `output-cap`, `disk-limit`: the server stopped it for going
 * past one; `disk-full`: the state directory's disk filled up, so its
 * output may be missing; `stopped`: a stop request (or the server's
 * shutdown); `server-restart`: it was running when the server died.
 */
export type EndCause =
  | "start-failed"
  | "exited"
  | "signaled"
  | "oom"
  | "timeout"
  | "output-cap"
  | "disk-limit"
  | "disk-full"
  | "stopped"
  | "server-restart";
