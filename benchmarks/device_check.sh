#!/usr/bin/env bash
# One prepared accelerator check (issue 33), at most about 8 minutes on one GPU. Needs only
# `pip install -e '.[test]'` (and, for a GPU, JAX's CUDA plugin of the pinned version).
# Writes everything under $OUT (default: a new temporary folder), read as docs/cluster.md says:
#   env.json               JAX's devices and versions, nvidia-smi's GPUs
#   device_float64.json    t* of the default model at N = 8 and 64 on the default device
#   device_float32.json    the same in float32
#   cpu_float64.json       the same on the CPU (only when the default device is not the CPU)
#   throughput.json        a padded sweep of N = 64, 128, 256, 512: lengths per second
#   largest.json           the largest N (doubling from 128) whose emergence_time takes <= 60 s
#   summary.json           all of it, with the relative differences; *.log the steps' output
# --small: a smoke test of the script on a CPU (N = 2 and 4, sweep N = 2, 4, 8, largest N
# doubling from 2 within 30 s), with XLA CPU's quick-compiling flags.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
agree=8,64 sweep=64,128,256,512 start=128 limit=60 budget=330
if [[ "${1:-}" == "--small" ]]; then
  agree=2,4 sweep=2,4,8 start=2 limit=30 budget=150
  export XLA_FLAGS="${XLA_FLAGS:-} --xla_cpu_use_fusion_emitters=false --xla_backend_optimization_level=0"
elif [[ $# -gt 0 ]]; then
  echo "usage: $0 [--small]" >&2
  exit 2
fi
OUT="${OUT:-$(mktemp -d)}"
mkdir -p "$OUT"
deadline=$(($(date +%s) + budget))  # no new length of the largest-N search starts after it
step() { python "$here/device_check.py" "$@"; }

echo "device check: writing $OUT"
step env "$OUT/env.json" > "$OUT/env.log" 2>&1
backend=$(python -c "import json,sys; print(json.load(open(sys.argv[1]))['backend'])" "$OUT/env.json")
echo "JAX's default backend: $backend"
cpu_pid=""
if [[ "$backend" != "cpu" ]]; then  # the CPU reference, beside the device's steps
  JAX_PLATFORMS=cpu step tstar "$OUT/cpu_float64.json" --ns "$agree" > "$OUT/cpu.log" 2>&1 &
  cpu_pid=$!
fi
step tstar "$OUT/device_float64.json" --ns "$agree" --precision float64 2>&1 | tee "$OUT/float64.log"
step tstar "$OUT/device_float32.json" --ns "$agree" --precision float32 2>&1 | tee "$OUT/float32.log"
step throughput "$OUT/throughput.json" --ns "$sweep" 2>&1 | tee "$OUT/throughput.log"
step largest "$OUT/largest.json" --start "$start" --limit "$limit" --deadline "$deadline" 2>&1 \
  | tee "$OUT/largest.log"
if [[ -n "$cpu_pid" ]]; then wait "$cpu_pid"; fi
step summary "$OUT" > "$OUT/summary.log" 2>&1
cat "$OUT/summary.json"
if [[ -s "$OUT/env.json" ]] && grep -q '"nvidia_smi": "' "$OUT/env.json" && [[ "$backend" != "gpu" ]]; then
  echo "an NVIDIA GPU is present but JAX does not use it: install jax[cuda12] of the pinned version" >&2
  exit 3
fi
