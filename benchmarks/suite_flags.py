"""What the test suite's XLA optimisation level costs: one emergence program of each solver and
one training run, compilation included, in one fresh process per flag set.

The suite (``tests/conftest.py``) compiles with XLA CPU's elemental emitters at LLVM
optimisation level 0: emergence programs compile fastest there, but long training loops run
slowly. This prints, for each level, the wall time of ``emergence_time(4)`` (tsit5),
``emergence_time(4, solver="bdf")`` and ``transformer.train(2, 6, steps=220, batch=4096)``.
Timings only; nothing is asserted or recorded.

    python benchmarks/suite_flags.py [--levels 0,1]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

FLAGS = "--xla_cpu_use_fusion_emitters=false --xla_backend_optimization_level={level}"


def one_process() -> None:
    """Time the three programs in this process (its XLA_FLAGS set by the parent)."""
    import jax

    from induction_ode import emergence_time
    from induction_ode.transformer import train

    marks = [time.perf_counter()]
    emergence_time(4)
    marks.append(time.perf_counter())
    emergence_time(4, solver="bdf")
    marks.append(time.perf_counter())
    jax.block_until_ready(train(2, 6, steps=220, lr=1.0, batch=4096, record_every=220, tokens="signed_perm"))
    marks.append(time.perf_counter())
    tsit5, bdf, training = (b - a for a, b in zip(marks, marks[1:]))
    print(f"{os.environ['XLA_FLAGS']}: tsit5 {tsit5:.1f} s, bdf {bdf:.1f} s, train {training:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="0,1", help="comma-separated XLA backend optimisation levels")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return one_process()
    for level in args.levels.split(","):
        env = dict(os.environ, XLA_FLAGS=FLAGS.format(level=level))
        subprocess.run([sys.executable, __file__, "--child"], env=env, check=True)


if __name__ == "__main__":
    main()
