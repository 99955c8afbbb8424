"""Milliseconds per training step of the ladder's trained rungs on a CPU, side by side.

Each case compiles one chunk of steps of the ladder's own programs (all ``K`` seeds vmapped,
as :func:`induction_ode.transformer.train_seeds` and :func:`induction_ode.standard.train_seeds`
run them) and times it after compilation; the cases of one comparison are timed in turns
(``--repeats`` rounds, the order reversed every round) so that a shared machine's load falls
on all of them alike. Results go under ``training_step``:

- ``precision``: a network rung (R1: SGD, MSE, signed-permutation tokens) at ``N = 8``,
  ``d = 16``, ``K = 5``, batch 128, float64 against float32: the chunk's ms per step (sampling,
  gradient and update) and one record (the 19-d projection and the loss on the 1024
  held-out sequences);
- ``haar``: drawing Haar tokens at ``d = 16`` and ``32`` (``K = 5``, batch 128, per step):
  ``jnp.linalg.qr`` (the sampler before, which can deadlock, docs/results.md §12) against
  :func:`induction_ode.task.gram_schmidt` (the sampler now) and the signed permutations;
- ``lengths``: the cost model, per ``N`` of ``--n-pairs``: a network step at the ladder's width
  ``d = 2N`` (float32) and a standard step (R6: 8 heads, RoPE, batch 32) and one evaluation.

    python benchmarks/training_step.py [--n-pairs 2,4,8,16,32] [--repeats 3]
"""

from __future__ import annotations

import argparse
import inspect
import time

import jax
import jax.numpy as jnp
import numpy as np
from common import save

from induction_ode import transformer
from induction_ode.standard.clamps import StandardClamp
from induction_ode.standard.model import ModelConfig
from induction_ode.standard.task import Task
from induction_ode.standard.training import TrainConfig, _programs
from induction_ode.task import _signed_perm_frames, gram_schmidt

K, BATCH, EVAL_BATCH = 5, 128, 1024


def _seconds(fn) -> float:
    start = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - start


def _alternate(cases: dict, repeats: int) -> dict:
    """``{name: median seconds}`` of each ``cases[name]()`` timed in turns (order reversed every
    round), after one untimed call each (compilation)."""
    for fn in cases.values():
        _seconds(fn)
    times = {name: [] for name in cases}
    for r in range(repeats):
        for name in list(cases)[:: 1 if r % 2 == 0 else -1]:
            times[name].append(_seconds(cases[name]))
    return {name: float(np.median(t)) for name, t in times.items()}


def network_programs(n: int, d: int, precision: str, chunk: int):
    """R1's chunk and record programs (jitted, vmapped over ``K`` seeds) and their arguments."""
    signature = inspect.signature(transformer.train).parameters.items()
    options = {k: p.default for k, p in signature if p.default is not inspect.Parameter.empty}
    for own in ("seed", "record_every"):
        options.pop(own)
    options.update(tokens="signed_perm", eval_batch=EVAL_BATCH, precision=precision)
    prog = transformer._program(n, d, lr=4.0, batch=BATCH, record_every=chunk, **options)
    keys = jnp.stack([jax.random.PRNGKey(s) for s in range(K)])
    w, state, data, k_train = jax.jit(jax.vmap(prog.start))(keys)
    step = jax.jit(jax.vmap(prog.chunk, in_axes=(0, 0, 0, None)))
    record = jax.jit(jax.vmap(prog.record))
    start = time.perf_counter()
    jax.block_until_ready((step(w, state, k_train, 0), record(w, data)))
    compile_s = time.perf_counter() - start
    return (lambda: step(w, state, k_train, 0)), (lambda: record(w, data)), compile_s


def standard_programs(n: int, heads: int, every: int):
    """A standard rung's chunk and evaluation (Adam 1e-3, CE, batch 32, RoPE) and compile time."""
    cfg = TrainConfig(every, 1e-3, 32, "adam", 0, every, loss="ce")
    start = time.perf_counter()
    programs = _programs(Task(n_pairs=n), ModelConfig(heads=heads), cfg, tuple(range(K)))
    params, opt_init, chunk, evaluate, data = programs
    clamp, state = StandardClamp().arrays(heads), opt_init(params)
    jax.block_until_ready((chunk(params, state, 0, clamp), evaluate(params, 0, clamp, data)))
    compile_s = time.perf_counter() - start
    step = lambda: chunk(params, state, 0, clamp)[2]  # noqa: E731
    return step, (lambda: evaluate(params, 0, clamp, data)[0]), compile_s


def _qr_frames(key, batch, d, dtype):
    """The former Haar sampler: LAPACK's QR with R's diagonal signs fixed."""
    q, r = jnp.linalg.qr(jax.random.normal(key, (batch, d, d), dtype=dtype))
    return q * jnp.sign(jnp.diagonal(r, axis1=-2, axis2=-1))[:, None, :]


def _sampler_chunk(frames, d: int, chunk: int):
    def one(key):
        body = lambda c, i: (c + jnp.sum(frames(jax.random.fold_in(key, i), BATCH, d, jnp.float64)), None)  # noqa: E731
        return jax.lax.scan(body, 0.0, jnp.arange(chunk))[0]

    keys = jnp.stack([jax.random.PRNGKey(s) for s in range(K)])
    program = jax.jit(jax.vmap(one))
    return lambda: program(keys)


def compare_precision(repeats: int, chunk: int = 17) -> dict:
    built = {p: network_programs(8, 16, p, chunk) for p in ("float64", "float32")}
    cases = {f"{p}_{part}": built[p][i] for p in built for i, part in enumerate(("chunk", "record"))}
    times = _alternate(cases, repeats)
    out = {}
    for p, (_, _, compile_s) in built.items():
        step_ms, record_ms = 1e3 * times[f"{p}_chunk"] / chunk, 1e3 * times[f"{p}_record"]
        out[p] = dict(step_ms=step_ms, record_ms=record_ms, compile_s=compile_s, chunk=chunk)
        print(f"network N=8 {p}: {step_ms:.1f} ms/step, record {record_ms:.0f} ms, compile {compile_s:.1f} s")
    out["ratio_step"] = out["float64"]["step_ms"] / out["float32"]["step_ms"]
    out["ratio_record"] = out["float64"]["record_ms"] / out["float32"]["record_ms"]
    return out


def compare_haar(repeats: int, chunk: int = 17) -> dict:
    out = {}
    for d in (16, 32):
        samplers = dict(
            qr=_qr_frames,
            gram_schmidt=lambda key, b, dd, dt: gram_schmidt(jax.random.normal(key, (b, dd, dd), dtype=dt)),
            signed_perm=_signed_perm_frames,
        )
        times = _alternate({k: _sampler_chunk(f, d, chunk) for k, f in samplers.items()}, repeats)
        out[f"d{d}"] = {k: 1e3 * t / chunk for k, t in times.items()}
        print(f"haar tokens d={d}, ms/step:", {k: round(v, 1) for k, v in out[f"d{d}"].items()})
    return out


def lengths(n_pairs, repeats: int) -> list[dict]:
    rows = []
    for n in n_pairs:
        chunk, every = 10, 3 * (2 * n + 1)
        step, record, net_compile = network_programs(n, 2 * n, "float32", chunk)
        chunk_std, evaluate, std_compile = standard_programs(n, 8, every)
        times = _alternate(dict(step=step, record=record, std=chunk_std, eval=evaluate), repeats)
        row = dict(
            n_pairs=n,
            network_d=2 * n,
            network_step_ms=1e3 * times["step"] / chunk,
            network_record_ms=1e3 * times["record"],
            network_compile_s=net_compile,
            standard_step_ms=1e3 * times["std"] / every,
            standard_eval_ms=1e3 * times["eval"],
            standard_compile_s=std_compile,
        )
        print({k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
        rows.append(row)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-pairs", default="2,4,8,16,32")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parts", default="precision,haar,lengths")
    args = parser.parse_args()
    parts = args.parts.split(",")
    n_pairs = [int(v) for v in args.n_pairs.split(",")]
    results = {}
    if "precision" in parts:
        results["precision"] = compare_precision(args.repeats)
    if "haar" in parts:
        results["haar"] = compare_haar(args.repeats)
    if "lengths" in parts:
        results["lengths"] = lengths(n_pairs, args.repeats)
    settings = dict(seeds=K, batch=BATCH, eval_batch=EVAL_BATCH, standard_batch=32, n_pairs=n_pairs)
    settings["parts"] = parts
    save("training_step", settings, results)


if __name__ == "__main__":
    main()
