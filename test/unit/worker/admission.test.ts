import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Admission, type OwnerCaps, type Reservation } from "../../../src/worker/admission.ts";

const MiB = 1024 * 1024;
const capacity = { memoryBytes: 512 * MiB, cpu: 2, pids: 1000, maxRunning: 10 };

/** An admission queue and the order in which it admitted queued jobs. */
function queue(cap = capacity) {
  const admission = new Admission(cap);
  const admitted: string[] = [];
  const add = (id: string, owner: string, reservation: Reservation, caps: OwnerCaps = {}) =>
    admission.enqueue({ id, owner, reservation, caps }, () => admitted.push(id));
  return { admission, admitted, add };
}

describe("admission", () => {
  it("admits while jobs fit, queues the rest first in first out", () => {
    const { admission, admitted, add } = queue();
    const half = admission.reservationOf({ memoryBytes: 256 * MiB, cpu: 0.5, pids: 10 });
    assert.equal(add("a", "alice", half), true);
    assert.equal(add("b", "alice", half), true);
    assert.equal(add("c", "alice", half), false);
    const small = admission.reservationOf({ memoryBytes: 8 * MiB, cpu: 0.1, pids: 10 });
    // Fits, but must not overtake c.
    assert.equal(add("d", "alice", small), false);
    assert.deepEqual([admission.position("c"), admission.position("d")], [1, 2]);
    admission.release("a");
    assert.deepEqual(admitted, ["c"], "d does not fit beside b and c yet");
    admission.release("b");
    assert.deepEqual(admitted, ["c", "d"]);
    assert.equal(admission.position("c"), null);
  });

  it("serves owners in turn: bob's first job is second in line behind 300 of alice's", () => {
    const { admission, admitted, add } = queue({ ...capacity, maxRunning: 1 });
    const tiny = admission.reservationOf({ memoryBytes: MiB, cpu: 0.1, pids: 1 });
    assert.equal(add("running", "carol", tiny), true);
    for (let i = 0; i < 300; i++) add(`alice-${i}`, "alice", tiny);
    add("bob-0", "bob", tiny);
    add("bob-1", "bob", tiny);
    assert.equal(admission.position("alice-0"), 1);
    assert.equal(admission.position("bob-0"), 2);
    assert.equal(admission.position("alice-1"), 3);
    assert.equal(admission.position("bob-1"), 4);
    assert.equal(admission.position("alice-2"), 5);
    assert.equal(admission.position("alice-299"), 302);
    for (const id of ["running", "alice-0", "bob-0", "alice-1"]) admission.release(id);
    assert.deepEqual(admitted, ["alice-0", "bob-0", "alice-1", "bob-1"]);
    assert.equal(admission.position("alice-2"), 1, "bob has nothing left waiting");
  });

  it("an owner at its running cap is passed over; its jobs wait", () => {
    const { admission, admitted, add } = queue();
    const tiny = admission.reservationOf({ memoryBytes: MiB, cpu: 0.1, pids: 1 });
    const capped = { maxRunning: 2 };
    assert.equal(add("a1", "alice", tiny, capped), true);
    assert.equal(add("a2", "alice", tiny, capped), true);
    assert.equal(add("a3", "alice", tiny, capped), false, "room on the host, but alice is at 2");
    assert.equal(add("b1", "bob", tiny), true, "bob is not held up by alice's cap");
    admission.release("a1");
    assert.deepEqual(admitted, ["a3"]);
  });

  it("refuses a job beyond its owner's queued cap, with the numbers", () => {
    const { admission, add } = queue({ ...capacity, maxRunning: 1 });
    const tiny = admission.reservationOf({ memoryBytes: MiB, cpu: 0.1, pids: 1 });
    add("running", "alice", tiny);
    add("q1", "alice", tiny, { maxQueued: 2 });
    add("q2", "alice", tiny, { maxQueued: 2 });
    assert.throws(
      () => {
        admission.checkQueueRoom("alice", { maxQueued: 2 });
      },
      {
        code: "resource_exhausted",
        message:
          "alice has 2 jobs waiting in the queue, the most allowed; wait for some to start or stop some",
      },
    );
    admission.checkQueueRoom("bob", { maxQueued: 2 });
  });

  it("the turn stays fair when an owner's queue empties", () => {
    const { admission, admitted, add } = queue({ ...capacity, maxRunning: 1 });
    const tiny = admission.reservationOf({ memoryBytes: MiB, cpu: 0.1, pids: 1 });
    add("running", "x", tiny);
    add("a1", "alice", tiny);
    add("b1", "bob", tiny);
    add("c1", "carol", tiny);
    add("c2", "carol", tiny);
    assert.equal(admission.dequeue("b1"), true);
    admission.release("running");
    admission.release("a1");
    admission.release("c1");
    assert.equal(add("b2", "bob", tiny), false, "c2 runs");
    assert.equal(admission.position("b2"), 1);
    admission.release("c2");
    assert.deepEqual(admitted, ["a1", "c1", "c2", "b2"]);
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
    const { admission, add } = queue({ ...capacity, maxRunning: 1 });
    const tiny = admission.reservationOf({ memoryBytes: MiB, cpu: 0.1, pids: 1 });
    assert.equal(add("a", "alice", tiny), true);
    assert.equal(add("b", "bob", tiny), false);
  });

  it("removing the head of the queue lets the next one in", () => {
    const { admission, admitted, add } = queue();
    const big = admission.reservationOf({ memoryBytes: 512 * MiB, cpu: 1, pids: 1 });
    const small = admission.reservationOf({ memoryBytes: 128 * MiB, cpu: 0.1, pids: 1 });
    add("running", "alice", admission.reservationOf({ memoryBytes: 256 * MiB, cpu: 1, pids: 1 }));
    add("big", "alice", big);
    add("small", "alice", small);
    assert.equal(admission.dequeue("big"), true);
    assert.deepEqual(admitted, ["small"]);
  });
});
