"""Where a length forms no head: the end state's Hessian, a longer run, and random starts.

    python examples/strict_breakdown.py runs/strict_192/results.json [--extra 40] [--seeds 0]
        [--scale 0.01] [--out runs/strict_192/breakdown.json]

For the largest length N of a sweep record whose run formed no head (the strict mask at
N = 192 and 256, docs/results.md §1):

1. at the end state θ(t_max): the loss, the gradient norm and the eigenvalues of the Hessian of
   L, with the pseudo-parameters that dominate the lowest eigenvectors and the flow direction;
2. the flow continued from that state for ``--extra`` × T² more (BDF, rtol 1e-8), with the loss
   at log-spaced times, and whether it ever reaches ½ L(0) = ¼;
3. for each of ``--seeds``, the emergence time from θ(0) = ``scale`` · N(0, I) instead of 0
   (same horizon 20T²).

Prints each part as it finishes and writes everything as JSON.
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from induction_ode import emergence_time, population_loss, simulate
from induction_ode.records import model_of, read_json
from induction_ode.subspace import PARAM_NAMES


def top(vector, k=4):
    order = np.argsort(-np.abs(vector))[:k]
    return {PARAM_NAMES[i]: round(float(vector[i]), 3) for i in order}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("record")
    parser.add_argument("--extra", type=float, default=40.0, help="continue for this many T² more")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds of random starts ('' for none)")
    parser.add_argument("--scale", type=float, default=0.01, help="standard deviation of a random start")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    record = read_json(args.record)
    model = model_of(record["config"]).replace(free=None)
    rows = [r for r in record["lengths"] if not r["emerged"]]
    if not rows:
        raise SystemExit(f"every length in {args.record} formed a head")
    row = max(rows, key=lambda r: r["n_pairs"])
    n, seq_len = row["n_pairs"], 2 * row["n_pairs"] + 1
    theta = jnp.asarray(row["theta_end"], jnp.float64)
    out = dict(record=args.record, n_pairs=n, model=model.to_json(), t_max=row["t_max"])

    loss = lambda th: population_loss(th, n, model=model)  # noqa: E731
    value, grad = jax.value_and_grad(loss)(theta)
    eig, vec = np.linalg.eigh(np.asarray(jax.hessian(loss)(theta)))
    out["end_state"] = dict(
        loss=float(value),
        grad_norm=float(jnp.linalg.norm(grad)),
        hessian_eigenvalues=eig.tolist(),
        lowest_eigenvectors=[dict(value=float(eig[i]), top=top(vec[:, i])) for i in range(3)],
        flow_direction=top(-np.asarray(grad) / float(jnp.linalg.norm(grad)), 5),
    )
    print(json.dumps(out["end_state"], indent=1), flush=True)

    extra = args.extra * seq_len**2
    ts = np.concatenate([[0.0], np.geomspace(extra * 1e-4, extra, 40)])
    start = time.perf_counter()
    traj = simulate(n, extra, model=model, theta0=theta, ts=ts)
    losses = np.asarray(traj.losses)
    out["continued"] = dict(
        extra_T2=args.extra,
        ts=ts.tolist(),
        losses=losses.tolist(),
        reached_quarter=bool(np.any(losses <= 0.25)),
        theta_end=np.asarray(traj.thetas[-1]).tolist(),
        wall_s=time.perf_counter() - start,
    )
    print(
        f"continued {args.extra:g} T² more: loss {losses[0]:.5f} -> {losses[-1]:.5f}, "
        f"min {losses.min():.5f}, reached 1/4: {out['continued']['reached_quarter']}",
        flush=True,
    )

    out["random_starts"] = []
    for seed in [int(s) for s in args.seeds.split(",") if s]:
        theta0 = args.scale * np.random.default_rng(seed).standard_normal(19)
        start = time.perf_counter()
        em = emergence_time(n, model=model, theta0=theta0)
        out["random_starts"].append(
            dict(
                seed=seed,
                scale=args.scale,
                t_star=em.t_star,
                emerged=em.emerged,
                label_attention=em.label_attention,
                theta_end=em.theta_end.tolist(),
                wall_s=time.perf_counter() - start,
            )
        )
        print(f"seed {seed}: t* = {em.t_star:.6g}, head {em.emerged}", flush=True)

    path = args.out or args.record.replace("results.json", "breakdown.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    print("wrote", path)


if __name__ == "__main__":
    main()
