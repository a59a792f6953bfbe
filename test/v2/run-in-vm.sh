#!/usr/bin/env bash
# Runs the cgroup v2 tests (test/v2/*.vm.ts) against a real pure-v2 kernel:
# inside the VM that shared/tools/vm-run boots (shared/ sits beside the repo),
# with the project's own Node. Exits with the tests' status (125: the VM failed).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
vm_run="$(dirname "$repo")/shared/tools/vm-run"
[ -x "$vm_run" ] || { echo "run-in-vm: $vm_run not found (shared/ must sit beside the repo)" >&2; exit 2; }
cd "$repo"
exec "$vm_run" -- "$repo/node_modules/.bin/node" --test --test-concurrency=1 test/v2/*.vm.ts
