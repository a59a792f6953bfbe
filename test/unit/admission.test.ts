import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Admission } from "../../src/worker/admission.ts";

const MiB = 1024 * 1024;
const capacity = { memoryBytes: 512 * MiB, cpu: 2, pids: 1000, maxRunning: 10 };

describe("admission", () => {
  it("admits while jobs fit, queues the rest first in first out", () => {
    const admission = new Admission(capacity);
    const admitted: string[] = [];
    const half = admission.reservationOf({ memoryBytes: 256 * MiB, cpu: 0.5, pids: 10 });
    assert.equal(
      admission.enqueue("a", half, () => admitted.push("a")),
      true,
    );
    assert.equal(
      admission.enqueue("b", half, () => admitted.push("b")),
      true,
    );
    assert.equal(
      admission.enqueue("c", half, () => admitted.push("c")),
      false,
    );
    const small = admission.reservationOf({ memoryBytes: 8 * MiB, cpu: 0.1, pids: 10 });
    // Fits, but must not overtake c.
    assert.equal(
      admission.enqueue("d", small, () => admitted.push("d")),
      false,
    );
    assert.deepEqual([admission.position("c"), admission.position("d")], [1, 2]);
    admission.release("a");
    assert.deepEqual(admitted, ["c"], "d does not fit beside b and c yet");
    admission.release("b");
    assert.deepEqual(admitted, ["c", "d"]);
    assert.equal(admission.position("c"), null);
  });

  it("a job without a limit on a resource reserves all of it", () => {
    const admission = new Admission(capacity);
    assert.deepEqual(admission.reservationOf({ cpu: 1 }), {
      memoryBytes: 512 * MiB,
      cpu: 1,
      pids: 1000,
    });
  });

  it("refuses with the numbers a job that could never fit", () => {
    const admission = new Admission(capacity);
    assert.throws(
      () => {
        admission.checkCouldEverFit(admission.reservationOf({ memoryBytes: 1024 * MiB }));
      },
      {
        code: "resource_exhausted",
        message:
          "the job asks for 1 GiB of memory but all jobs together may use only 512 MiB of memory",
      },
    );
  });

  it("counts running jobs against maxRunning", () => {
    const admission = new Admission({ ...capacity, maxRunning: 1 });
    const tiny = admission.reservationOf({ memoryBytes: MiB, cpu: 0.1, pids: 1 });
    assert.equal(
      admission.enqueue("a", tiny, () => undefined),
      true,
    );
    assert.equal(
      admission.enqueue("b", tiny, () => undefined),
      false,
    );
  });

  it("removing the head of the queue lets the next one in", () => {
    const admission = new Admission(capacity);
    const admitted: string[] = [];
    const big = admission.reservationOf({ memoryBytes: 512 * MiB, cpu: 1, pids: 1 });
    const small = admission.reservationOf({ memoryBytes: 128 * MiB, cpu: 0.1, pids: 1 });
    admission.enqueue(
      "running",
      admission.reservationOf({ memoryBytes: 256 * MiB, cpu: 1, pids: 1 }),
      () => undefined,
    );
    admission.enqueue("big", big, () => admitted.push("big"));
    admission.enqueue("small", small, () => admitted.push("small"));
    assert.equal(admission.dequeue("big"), true);
    assert.deepEqual(admitted, ["small"]);
  });
});
