"""Which of the authors' saved full-model runs our full model reproduces: the first steps.

    python examples/saved_full_runs.py SAVED.npz [SAVED.npz …] [--steps 10]

Each ``SAVED.npz`` is one of ``RPE/results_paper/NGram/Full_parent2_n10000_…npz`` from GitHub
``gszfwsb/Unveiling-Induction-Heads``; its learning rate and ``w+`` are read from its name
(``…_lr0.001_…_w+1.0_…``), the rest is ``preset("appendix-b")``. For ``proj_init`` 0.001, 0.01
and 0.1, trains our full model for ``--steps`` steps on our seed-0 sample and prints the largest
relative deviation of the increments of the live ``C_S`` and of ``a`` from the saved run's.
Samples of 9,000 sequences differ by a few per cent in these increments
(``tests/test_ngram_appendix_b.py``); a run is reproduced when all are within that.
"""

import argparse
import re
from pathlib import Path

import numpy as np

from induction_ode.ngram import fixed_sample, preset, train_full
from induction_ode.ngram.saved import load_saved_run

PROJ_INITS = (1e-3, 1e-2, 1e-1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("saved", type=Path, nargs="+")
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    k = args.steps
    for path in args.saved:
        lr = float(re.search(r"_lr([0-9.e-]+)_", path.name).group(1))
        w_plus = float(re.search(r"_w\+([0-9.]+)_", path.name).group(1))
        base = preset("appendix-b", full_steps=k, full_lr=lr, w_plus=w_plus)
        saved = load_saved_run(path, base.arch, base.n_train)
        if len(saved.a) <= k:
            print(f"{path.name}: only {len(saved.a) - 1} steps saved")
            continue
        live = base.arch.live()
        theirs_c, theirs_a = (saved.C[k] - saved.C[0])[live], saved.a[k] - saved.a[0]
        print(f"{path.name} (lr {lr:g}, w+ {w_plus:g}):")
        for proj in PROJ_INITS:
            s = preset("appendix-b", full_steps=k, full_lr=lr, w_plus=w_plus, proj_init=proj)
            traj = train_full(s, fixed_sample(s.task, s.n_train, s.seed), save_steps=[0, k])
            ours_c = np.asarray(traj.params.C[1] - traj.params.C[0])[live]
            ours_a = float(traj.params.a[1] - traj.params.a[0])
            dev_c, dev_a = np.max(np.abs(ours_c / theirs_c - 1)), ours_a / theirs_a - 1
            print(f"  proj_init {proj:g}: relative deviation of ΔC_S ≤ {dev_c:.3g}, of Δa {dev_a:+.3g}")


if __name__ == "__main__":
    main()
