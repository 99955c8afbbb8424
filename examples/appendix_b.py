"""The full model's Appendix-B run (``preset("appendix-b")``) against the authors' saved arrays.

    python examples/appendix_b.py SAVED.npz OUT_DIR [--steps 10000] [--seed 0] [--other OTHER_DIR]

``SAVED.npz`` is ``RPE/results_paper/NGram/Full_parent2_n10000_L100_S3_H3_lr0.001_optsgd_w+1.0_
w-0.01_D2_alpha0.1_n-epochs10000_[True, True].npz`` from GitHub ``gszfwsb/Unveiling-Induction-Heads``
(commit 68b04df; the repository has no licence, so the file is not shipped here). Trains the
full model on our sample of ``--seed`` (every step to 100, then every 10th step is recorded;
an ``OUT_DIR/appendix_b.npz`` of the same steps is reused instead), compares the loss, ``a`` and
every live ``c_S`` step by step, over the whole run and after step 3000, and writes
``appendix_b.json`` (the deviations, the steps of the main events, checkpoints),
``appendix_b.npz`` (our trajectory) and ``ngram_appendix_b.png`` into ``OUT_DIR``. With
``--other``, the run saved in ``OTHER_DIR`` (another seed) is compared with ours the same way.
The runs use different samples of 9,000 sequences (theirs is a torch-seeded file we cannot
regenerate).
"""

import argparse
import json
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from induction_ode.figures import save
from induction_ode.ngram import feature_weights, fixed_sample, preset, train_full
from induction_ode.ngram.saved import load_saved_run

RELATIVE_FLOOR = 0.05  # relative deviations of c_S only where the reference c_S is at least this
LATE = 3000  # "after the switch": steps >= LATE


def largest(ours, theirs, steps, floor=0.0):
    """The largest absolute and relative deviation over the recorded steps, and where."""
    diff = np.abs(ours - theirs)
    k = int(np.argmax(diff))
    shown = np.abs(theirs) >= floor
    rel = np.where(shown, diff / np.where(shown, np.abs(theirs), 1.0), 0.0)
    j = int(np.argmax(rel))
    return dict(abs=float(diff[k]), abs_step=int(steps[k]), rel=float(rel[j]), rel_step=int(steps[j]))


def deviations(ours, ref, steps, labels, live):
    """:func:`largest` for the loss, ``a`` and each live ``c_S``, over all steps and after ``LATE``."""
    out = {}
    for name, late in (("whole run", steps >= 0), (f"steps >= {LATE}", steps >= LATE)):
        row = {q: largest(ours[q][late], ref[q][late], steps[late]) for q in ("losses", "a")}
        for i in np.flatnonzero(live):
            ci = (ours["c"][late, i], ref["c"][late, i])
            row[f"c {labels[i]}"] = largest(*ci, steps[late], RELATIVE_FLOOR)
        out[name] = row
    return out


def events(steps, c, labels) -> dict:
    """Steps of the main events: the single heads die (``c_{h1} < 10⁻³``), ``h1+h2`` is selected
    and dropped (``c_{h1+h2}`` crosses 0.5 up, then down)."""
    pair = c[:, labels.index("h1+h2")]
    up = steps[np.argmax(pair > 0.5)]
    return dict(
        singles_dead=int(steps[np.argmax(c[:, labels.index("h1")] < 1e-3)]),
        h1_h2_above_half=int(up),
        h1_h2_below_half=int(steps[np.argmax((steps > up) & (pair < 0.5))]),
    )


def train(s, grid, path):
    """Our trajectory on ``grid`` (reused from ``path`` if it holds the same steps)."""
    if path.exists() and np.array_equal(np.load(path)["steps"], grid):
        print(f"reusing {path}")
        return dict(np.load(path)), None
    start, cpu = time.perf_counter(), time.process_time()
    traj = train_full(s, fixed_sample(s.task, s.n_train, s.seed), save_steps=grid)
    times = dict(wall_s=time.perf_counter() - start, cpu_s=time.process_time() - cpu)
    ours = dict(losses=traj.losses, a=traj.params.a, c=np.asarray(feature_weights(traj.params.C, s.arch)))
    np.savez(path, steps=grid, **ours)
    return ours, times


def figure(steps, ours, theirs, labels, live, path):
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.0), layout="constrained")
    ax1.plot(steps, ours["losses"], color="black", lw=1.8, label="ours")
    ax1.plot(steps, theirs["losses"], color="tab:orange", ls="--", lw=1.6, label="authors' saved run")
    ax1.set_xlabel("step (lr 0.001)")
    ax1.set_ylabel("mean training loss (reference-code)")
    ax1.legend(fontsize=8)
    colours = plt.cm.tab10(np.arange(10))
    for colour, i in zip(colours, np.flatnonzero(live)):
        ax2.plot(steps, ours["c"][:, i], color=colour, lw=1.8, label=labels[i])
        ax2.plot(steps, theirs["c"][:, i], color=colour, ls="--", lw=1.2)
    ax2.set_xscale("symlog", linthresh=10)
    ax2.set_xlabel("step (lr 0.001); solid: ours, dashed: authors")
    ax2.set_ylabel("feature weight $c_S$")
    ax2.legend(fontsize=7, ncol=2)
    fig.suptitle("Full model, Appendix-B settings: our run against the authors' saved arrays")
    return save(fig, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("saved", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0, help="our sample's seed")
    parser.add_argument("--other", type=Path, help="a directory holding another run's appendix_b.npz")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    s = preset("appendix-b", full_steps=args.steps, seed=args.seed)
    labels, live = s.arch.subset_labels(), s.arch.live()
    grid = np.unique(np.concatenate([np.arange(min(100, args.steps) + 1), np.arange(0, args.steps, 10)]))
    saved = load_saved_run(args.saved, s.arch, s.n_train)
    theirs = dict(losses=saved.losses[grid], a=saved.a[grid], c=saved.c[grid])
    ours, times = train(s, grid, args.out / "appendix_b.npz")
    report = dict(
        steps=args.steps,
        seed=args.seed,
        times=times,
        against_authors=deviations(ours, theirs, grid, labels, live),
        events=dict(
            ours=events(grid, ours["c"], labels), authors=events(np.arange(len(saved.c)), saved.c, labels)
        ),
        checkpoints={
            int(k): dict(
                loss=[float(ours["losses"][j]), float(theirs["losses"][j])],
                a=[float(ours["a"][j]), float(theirs["a"][j])],
                c={labels[i]: [float(ours["c"][j, i]), float(theirs["c"][j, i])] for i in live.nonzero()[0]},
            )
            for j, k in enumerate(grid)
            if k in (0, 1, 10, 100, 1000, 2000, 5000) or k == grid[-1]
        },
    )
    if args.other is not None:
        other = dict(np.load(args.other / "appendix_b.npz"))
        report["against_other"] = deviations(ours, other, grid, labels, live)
        report["events"]["other"] = events(grid, other["c"], labels)
    (args.out / "appendix_b.json").write_text(json.dumps(report, indent=1))
    figure(grid, ours, theirs, labels, live, args.out / "ngram_appendix_b.png")
    print(json.dumps({k: v for k, v in report.items() if k != "checkpoints"}, indent=1))


if __name__ == "__main__":
    main()
