"""The emergence programs' XLA options on a CPU against XLA's defaults, side by side.

``induction_ode.ode.CPU_COMPILER_OPTIONS`` is what :func:`~induction_ode.ode.compiled_emergence`
passes to XLA on a CPU. For each case (a model and a length) this runs one
:func:`~induction_ode.emergence_time` solve to ``2 t*`` with those options and one with XLA's
defaults, alternated ``--repeats`` times (the order swapped each time), each in a fresh
process (so neither gains from the other's traces or caches), and reports the wall seconds
(compile and run), the steps and ``t*``. Cases:
``sinusoidal`` and ``paired`` are the reduced flows (only α3, β2, γ3 move, uniform query);
``general`` the 19-parameter flow under the default model. Results go under
``compiler_options``.

    python benchmarks/compiler_options.py [--cases sinusoidal:1024,general:64,paired:8192]
        [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from common import save

import induction_ode.ode as ode
from induction_ode import KEY_PARAMS, Model, emergence_time

MODELS = {
    "sinusoidal": Model(free=KEY_PARAMS, positions="sinusoidal"),
    "paired": Model(free=KEY_PARAMS, positions="paired"),
    "general": Model(),
}
SETTINGS = {"package": dict(ode.CPU_COMPILER_OPTIONS), "xla_defaults": {}}


def solve(name: str, n_pairs: int, setting: str) -> dict:
    """One solve under ``SETTINGS[setting]``, in this process; times in seconds."""
    ode.CPU_COMPILER_OPTIONS = SETTINGS[setting]
    start = time.perf_counter()
    e = emergence_time(n_pairs, model=MODELS[name], solver="bdf")
    wall = time.perf_counter() - start
    return dict(wall_s=wall, t_star=e.t_star, steps=e.steps, gradient_evals=e.gradient_evals)


def solve_apart(name: str, n_pairs: int, setting: str) -> dict:
    """:func:`solve` in a fresh Python process."""
    args = [sys.executable, __file__, "--one", f"{name}:{n_pairs}:{setting}"]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="sinusoidal:1024,general:64,paired:8192", help="model:N,…")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # model:N:setting, run here (a child process)
    args = parser.parse_args()
    if args.one:
        name, n, setting = args.one.split(":")
        print(json.dumps(solve(name, int(n), setting)))
        return
    cases = [(c.split(":")[0], int(c.split(":")[1])) for c in args.cases.split(",") if c]
    unknown = sorted({name for name, _ in cases} - set(MODELS))
    if unknown:
        parser.error(f"unknown case(s) {unknown}; choose from {sorted(MODELS)}")
    results = {}
    for name, n in cases:
        runs = {setting: [] for setting in SETTINGS}
        for repeat in range(args.repeats):
            for setting in list(SETTINGS)[:: 1 if repeat % 2 == 0 else -1]:
                r = solve_apart(name, n, setting)
                runs[setting].append(r)
                wall, steps, t_star = r["wall_s"], r["steps"], r["t_star"]
                print(f"{name} N={n} {setting:12s} {wall:7.1f} s  steps {steps}  t* {t_star!r}", flush=True)
        results[f"{name}_{n}"] = runs
    save("compiler_options", dict(cases=args.cases, repeats=args.repeats, options=SETTINGS), results)


if __name__ == "__main__":
    main()
