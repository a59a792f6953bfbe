#!/usr/bin/env bash
# Runs the cgroup v2 tests (test/v2/*.vm.ts) against a real pure-v2 kernel:
# inside the VM that shared/tools/vm-run boots (shared/ sits beside the repo),
# with the project's own Node. Exits with the tests' status (125: the VM failed).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
vm_run="$(dirname "$repo")/shared/tools/vm-run"
[ -x "$vm_run" ] || { echo "run-in-vm: $vm_run not found (shared/ must sit beside the repo)" >&2; exit 2; }
cd "$repo"
# The launcher as the sources are now (the VM's writes are thrown away).
"$repo/node_modules/.bin/node" native/build.ts >/dev/null
run() { "$vm_run" -- "$repo/node_modules/.bin/node" --test --test-concurrency=1 test/v2/*.vm.ts; }
# One retry, said out loud: under the test runner, worker.vm.ts's process
# sometimes dies during its setup with no output (about 1 run in 4 on
# 2026-11-26; run directly, or alone, it passed every time). Not explained
# yet; a real failure fails twice.
if ! run; then
  echo "run-in-vm: the v2 suite failed; running it once more (see the comment in $0)" >&2
  run
fi
