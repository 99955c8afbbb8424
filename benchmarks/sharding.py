"""Speed-up of a sharded sweep on 1, 2 and 4 devices.

Each device count runs in a fresh subprocess (JAX fixes its device list at start-up). On a
CPU the devices are forced with ``XLA_FLAGS=--xla_force_host_platform_device_count=D``; they
share the machine's cores, so the speed-up is capped by the core count. On an accelerator
host, the first D real devices are used instead.

    python benchmarks/sharding.py [--devices 1,2,4] [--n-pairs 12,14,16,18]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from common import save

CHILD = """
import json, sys, time
import jax
from induction_ode import sweep
lengths, d = json.loads(sys.argv[1]), int(sys.argv[2])
devices = jax.local_devices()[:d]
first = sweep(lengths, devices=devices)  # compiles
start = time.perf_counter()
again = sweep(lengths, devices=devices)  # cached program: run time only
run = time.perf_counter() - start
print(json.dumps(dict(devices=len(devices), compile_s=first.compile_time, run_s=run,
                      t_star=again.t_star.tolist(), platform=jax.default_backend())))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", default="1,2,4")
    parser.add_argument("--n-pairs", default="12,14,16,18")
    args = parser.parse_args()
    lengths = [int(v) for v in args.n_pairs.split(",")]
    rows = []
    for d in (int(v) for v in args.devices.split(",")):
        env = dict(os.environ)
        if env.get("JAX_PLATFORMS", "cpu") == "cpu" or "cuda" not in env.get("JAX_PLATFORMS", ""):
            env["XLA_FLAGS"] = (
                f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={d}".strip()
            )
        out = subprocess.run(
            [sys.executable, "-c", CHILD, json.dumps(lengths), str(d)],
            env=env,
            capture_output=True,
            text=True,
        )
        if out.returncode:
            raise SystemExit(out.stderr[-2000:])
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(
            f"{row['devices']} device(s): run {row['run_s']:.2f} s, compile {row['compile_s']:.1f} s",
            flush=True,
        )
    base = rows[0]["run_s"]
    for row in rows:
        row["speedup"] = base / row["run_s"]
        row["max_abs_diff_t_star"] = max(abs(a - b) for a, b in zip(row["t_star"], rows[0]["t_star"]))
    save("sharding", vars(args), dict(rows=rows, cpu_count=os.cpu_count()))


if __name__ == "__main__":
    main()
