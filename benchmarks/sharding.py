"""Speed-up of a sharded sweep on 1, 2 and 4 devices, and its cost per step.

Each device count runs in a fresh subprocess (JAX fixes its device list at start-up). On a
CPU the devices are forced with ``XLA_FLAGS=--xla_force_host_platform_device_count=D``; they
share the machine's cores, so the speed-up is capped by the core count. On an accelerator
host, the first D real devices are used instead.

The cost per step is the sweep's run time divided by the steps of its longest length: a
batched solve loops until its slowest lane is done. ``--gspmd`` compiles every solver's sweep
the way all of them were compiled before issue 33 (XLA partitions the vmapped loop, GSPMD:
its condition is an all-reduce at every step) instead of under ``jax.shard_map``; its entry
is saved as ``sharding_gspmd``.

    python benchmarks/sharding.py [--devices 1,2,4] [--n-pairs 12,14,16,18] [--repeats 3] [--gspmd]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from common import save

CHILD = """
import json, statistics, sys, time
import jax
from induction_ode import ode, sweep
lengths, d, repeats, gspmd = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
if gspmd:
    ode.GSPMD_SOLVERS = ode.SOLVERS
devices = jax.local_devices()[:d]
first = sweep(lengths, devices=devices)  # compiles
runs = []
for _ in range(repeats):  # the cached program: run time only
    start = time.perf_counter()
    again = sweep(lengths, devices=devices)
    runs.append(time.perf_counter() - start)
run = statistics.median(runs)
steps = [r.steps for r in again.results]
print(json.dumps(dict(devices=len(devices), compile_s=first.compile_time, run_s=run, runs_s=runs,
                      steps=steps, per_step_ms=1e3 * run / max(steps), solver=again.results[0].solver,
                      t_star=again.t_star.tolist(), platform=jax.default_backend())))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", default="1,2,4")
    parser.add_argument("--n-pairs", default="12,14,16,18")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per device count (median)")
    parser.add_argument("--gspmd", action="store_true", help="partition every solver's loop by GSPMD")
    args = parser.parse_args()
    lengths = [int(v) for v in args.n_pairs.split(",")]
    rows = []
    for d in (int(v) for v in args.devices.split(",")):
        env = dict(os.environ)
        if env.get("JAX_PLATFORMS", "cpu") == "cpu" or "cuda" not in env.get("JAX_PLATFORMS", ""):
            env["XLA_FLAGS"] = (
                f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={d}".strip()
            )
        child = [json.dumps(lengths), str(d), str(args.repeats), str(int(args.gspmd))]
        out = subprocess.run([sys.executable, "-c", CHILD, *child], env=env, capture_output=True, text=True)
        if out.returncode:
            raise SystemExit(out.stderr[-2000:])
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(
            f"{row['devices']} device(s): run {row['run_s']:.2f} s, {row['per_step_ms']:.2f} ms per step "
            f"({max(row['steps'])} steps, {row['solver']}), compile {row['compile_s']:.1f} s",
            flush=True,
        )
    base = rows[0]["run_s"]
    for row in rows:
        row["speedup"] = base / row["run_s"]
        row["max_abs_diff_t_star"] = max(abs(a - b) for a, b in zip(row["t_star"], rows[0]["t_star"]))
    name = "sharding_gspmd" if args.gspmd else "sharding"
    save(name, vars(args), dict(rows=rows, cpu_count=os.cpu_count()))


if __name__ == "__main__":
    main()
