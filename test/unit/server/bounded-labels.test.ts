import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BoundedLabels, OTHER } from "../../../src/server/bounded-labels.ts";

describe("BoundedLabels", () => {
  it("keeps the first values seen as they are, and counts later ones as OTHER", () => {
    const owners = new BoundedLabels(2);
    assert.equal(owners.label("alice"), "alice");
    assert.equal(owners.label("bob"), "bob");
    assert.equal(owners.label("carol"), OTHER);
    // A value seen before keeps its own label however many come after it.
    assert.equal(owners.label("alice"), "alice");
    assert.equal(owners.label("dave"), OTHER);
    assert.equal(owners.label("carol"), OTHER);
  });
});
