/**
 * The server's side of the spawner (native/spawner.c): one small native
 * process, started once, that forks and execs the launcher for every job,
 * so the server's large Node process never forks (a fork per job cost most
 * of a start, in the server's one thread, and held every other call up).
 *
 * Messages on its fd 3: u32 length (little-endian; of what follows), u8
 * type, u32 job handle, payload (spawner.c says which). The launcher's
 * status bytes come back through it, and its exit after the last of them.
 */
import { spawn } from "node:child_process";
import { constants } from "node:os";
import { Socket } from "node:net";
import { PassThrough, type Readable } from "node:stream";
import { JobError } from "./errors.ts";

const START = 1;
const INPUT = 2;
const CLOSE = 3;
const STARTED = 11;
const STATUS = 12;
const EXITED = 14;
const HEADER_BYTES = 9;

/** How a launcher ended: one of the two is set. */
export interface LaunchExit {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
}

/** A launcher the spawner started. */
export interface SpawnedLauncher {
  readonly pid: number;
  /** What the launcher writes on its status channel; ends before `exited` settles. */
  readonly status: Readable;
  /** More bytes for its spec channel (the answer to its "program" line). */
  input(bytes: string): void;
  /** No more input: the spec channel closes once written. */
  closeInput(): void;
  readonly exited: Promise<LaunchExit>;
}

interface Pending {
  started: PromiseWithResolvers<number>;
  status: PassThrough;
  exited: PromiseWithResolvers<LaunchExit>;
}

const SIGNAL_NAMES: ReadonlyMap<number, NodeJS.Signals> = new Map(
  Object.entries(constants.signals).map(([name, number]) => [number, name as NodeJS.Signals]),
);

/** A raw wait status (as waitpid gives it) as Node reports a child's end. */
function decodeWaitStatus(status: number): LaunchExit {
  const signal = status & 0x7f;
  if (signal === 0) return { exitCode: (status >> 8) & 0xff, signal: null };
  return { exitCode: null, signal: SIGNAL_NAMES.get(signal) ?? "SIGKILL" };
}

export class Spawner {
  readonly #binary: string;
  #control: Socket | undefined;
  readonly #jobs = new Map<number, Pending>();
  #nextHandle = 1;
  #received = Buffer.alloc(0);
  #closed = false;

  /** `binary` is the launcher (findLauncher's): it is the spawner too, run with --spawner. */
  constructor(binary: string) {
    this.#binary = binary;
  }

  /**
   * Starts a launcher with `args`, the output file at `outputPath` as its
   * stdout and stderr, and `spec` on its spec channel. Resolves once it
   * exists (its pid known). Starts the spawner first when it is not running
   * (the first time, or after it died).
   */
  async launch(
    args: readonly string[],
    outputPath: string,
    spec: Buffer,
  ): Promise<SpawnedLauncher> {
    if (this.#closed) throw new JobError("failed_precondition", "the worker is closed");
    const control = this.#control ?? this.#startSpawner();
    const handle = this.#nextHandle;
    this.#nextHandle = (this.#nextHandle % 0xffffffff) + 1;
    const job: Pending = {
      started: Promise.withResolvers<number>(),
      status: new PassThrough(),
      exited: Promise.withResolvers<LaunchExit>(),
    };
    this.#jobs.set(handle, job);
    this.#keepAlive();
    const count = Buffer.alloc(4);
    count.writeUInt32LE(args.length);
    const strings = Buffer.from([...args, outputPath].map((s) => `${s}\0`).join(""), "utf8");
    control.write(message(START, handle, Buffer.concat([count, strings, spec])));
    const pid = await job.started.promise;
    return {
      pid,
      status: job.status,
      input: (bytes) => {
        this.#control?.write(message(INPUT, handle, Buffer.from(bytes, "utf8")));
      },
      closeInput: () => {
        this.#control?.write(message(CLOSE, handle, Buffer.alloc(0)));
      },
      exited: job.exited.promise,
    };
  }

  /** Stops the spawner (its launchers die with it: close the worker's jobs first). Idempotent. */
  close(): void {
    this.#closed = true;
    this.#control?.end();
  }

  /**
   * The process stays alive while a job runs (as it would for a child of
   * its own), and the spawner alone keeps nothing alive when no job does.
   */
  #keepAlive(): void {
    if (this.#jobs.size > 0) this.#control?.ref();
    else this.#control?.unref();
  }

  #startSpawner(): Socket {
    const child = spawn(this.#binary, ["--spawner"], {
      // fd 3: the control socket. Nothing of the server's environment.
      stdio: ["ignore", "ignore", "inherit", "pipe"],
      env: {},
      // A session of its own: a Ctrl-C at the server's terminal is the
      // server's to handle (a graceful stop), not a kill of every job.
      detached: true,
    });
    const control = child.stdio[3];
    if (child.pid === undefined || !(control instanceof Socket)) {
      child.kill("SIGKILL");
      throw new JobError(
        "resource_exhausted",
        "could not start the job spawner (out of processes or file descriptors)",
      );
    }
    control.on("data", (chunk: Buffer) => {
      this.#receive(chunk);
    });
    // Its end is reported through 'exit' below.
    control.on("error", () => undefined);
    child.once("exit", () => {
      this.#spawnerGone();
    });
    child.unref();
    this.#control = control;
    return control;
  }

  #receive(chunk: Buffer): void {
    let buffer = this.#received.length === 0 ? chunk : Buffer.concat([this.#received, chunk]);
    while (buffer.length >= 4) {
      const length = buffer.readUInt32LE(0);
      if (buffer.length < 4 + length) break;
      const type = buffer.readUInt8(4);
      const handle = buffer.readUInt32LE(5);
      const payload = buffer.subarray(HEADER_BYTES, 4 + length);
      this.#dispatch(type, handle, payload);
      buffer = buffer.subarray(4 + length);
    }
    this.#received = Buffer.from(buffer);
  }

  #dispatch(type: number, handle: number, payload: Buffer): void {
    const job = this.#jobs.get(handle);
    if (job === undefined) return;
    switch (type) {
      case STARTED:
        job.started.resolve(payload.readUInt32LE(0));
        break;
      case STATUS:
        job.status.write(Buffer.from(payload));
        break;
      case EXITED:
        this.#jobs.delete(handle);
        this.#keepAlive();
        // A fork that failed has no pid: the status says why.
        job.started.resolve(0);
        job.status.end();
        job.exited.resolve(decodeWaitStatus(payload.readInt32LE(0)));
        break;
    }
  }

  /**
   * The spawner died (it should not): its launchers died with it
   * (PR_SET_PDEATHSIG), and their jobs with them. Each ends as killed; the
   * next launch starts a new spawner.
   */
  #spawnerGone(): void {
    this.#control = undefined;
    this.#received = Buffer.alloc(0);
    const gone = [...this.#jobs.values()];
    this.#jobs.clear();
    for (const job of gone) {
      job.started.reject(
        new JobError("internal", "the job spawner ended before the launcher started"),
      );
      job.status.end();
      job.exited.resolve({ exitCode: null, signal: "SIGKILL" });
    }
  }
}

function message(type: number, handle: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt32LE(payload.length + 5, 0);
  header.writeUInt8(type, 4);
  header.writeUInt32LE(handle, 5);
  return Buffer.concat([header, payload]);
}
