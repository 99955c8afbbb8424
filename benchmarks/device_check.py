"""The steps of ``benchmarks/device_check.sh``: one prepared accelerator check (issue 33).

Each step writes one JSON file; ``summary`` reads them all and writes ``summary.json``. Only
the package and its ``test`` extra are needed (no ``bench`` extra).

    python benchmarks/device_check.py env OUT/env.json
    python benchmarks/device_check.py tstar OUT/FILE.json --ns 8,64 --precision float64
    python benchmarks/device_check.py throughput OUT/throughput.json --ns 64,128,256,512
    python benchmarks/device_check.py largest OUT/largest.json --start 128 --limit 60 --deadline EPOCH
    python benchmarks/device_check.py summary OUT
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import time
from pathlib import Path

import jax

import induction_ode as io
from induction_ode.records import environment, write_json


def ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def env_step(args) -> dict:
    """The JAX devices, versions and (where present) ``nvidia-smi``'s view of the GPUs."""
    smi = None
    if shutil.which("nvidia-smi"):
        query = ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"]
        smi = subprocess.run(query, capture_output=True, text=True).stdout.strip()
    return dict(
        environment=environment(),
        devices=[str(d) for d in jax.devices()],
        backend=jax.default_backend(),
        nvidia_smi=smi,
    )


def tstar_step(args) -> dict:
    """``emergence_time(N)`` of the default model at each ``N``: t*, steps, seconds (with
    compilation: one program per ``N``)."""
    rows = []
    for n in ints(args.ns):
        start = time.perf_counter()
        e = io.emergence_time(n, precision=args.precision)
        seconds = time.perf_counter() - start
        rows.append(dict(n_pairs=n, t_star=e.t_star, steps=e.steps, seconds=seconds))
        print(f"{jax.default_backend()} {args.precision} N = {n}: t* = {e.t_star!r} ({seconds:.1f} s)")
    return dict(backend=jax.default_backend(), precision=args.precision, rows=rows)


def throughput_step(args) -> dict:
    """A padded sweep of the lengths ``ns`` (one program): its compile and run seconds and
    lengths per second of run time."""
    lengths = ints(args.ns)
    res = io.sweep(lengths, batching="padded")
    run = res.wall_time - res.compile_time
    print(f"padded sweep N = {lengths}: {run:.1f} s run, {res.compile_time:.1f} s compiling")
    return dict(
        n_pairs=lengths,
        compile_s=res.compile_time,
        run_s=run,
        lengths_per_s=len(lengths) / run,
        t_star=res.t_star.tolist(),
        devices=list(res.devices),
    )


def largest_step(args) -> dict:
    """The largest ``N`` (doubling from ``start``) whose ``emergence_time(N)`` of the default
    model takes at most ``limit`` seconds, compilation included; after the first, no new ``N``
    starts after the ``deadline`` (epoch seconds)."""
    rows, n, stopped = [], args.start, "limit"
    while True:
        if rows and time.time() > args.deadline:
            stopped = "deadline"
            break
        start = time.perf_counter()
        e = io.emergence_time(n)
        seconds = time.perf_counter() - start
        rows.append(dict(n_pairs=n, seconds=seconds, t_star=e.t_star, steps=e.steps))
        print(f"N = {n}: {seconds:.1f} s, t* = {e.t_star:.6g}")
        if seconds > args.limit:
            break
        n *= 2
    within = [r["n_pairs"] for r in rows if r["seconds"] <= args.limit]
    return dict(limit_s=args.limit, rows=rows, largest_within=max(within, default=None), stopped_by=stopped)


def summary_step(args) -> dict:
    """Everything in one place: agreement, precision, throughput, the largest N."""
    out = Path(args.file)
    read = lambda name: json.loads((out / name).read_text()) if (out / name).exists() else None  # noqa: E731
    env, device, single = read("env.json"), read("device_float64.json"), read("device_float32.json")
    cpu = read("cpu_float64.json")
    by_n = lambda rec: {r["n_pairs"]: r["t_star"] for r in rec["rows"]} if rec else {}  # noqa: E731
    agreement = {
        n: dict(device=t, cpu=by_n(cpu)[n], rel_diff=abs(t - by_n(cpu)[n]) / abs(by_n(cpu)[n]))
        for n, t in by_n(device).items()
        if n in by_n(cpu)
    }
    if env and env["backend"] == "cpu":  # no accelerator: the CPU's values alone
        agreement = {n: dict(cpu=t) for n, t in by_n(device).items()}
    precision = {
        n: dict(float64=t, float32=by_n(single).get(n), rel_diff=abs(by_n(single)[n] - t) / abs(t))
        for n, t in by_n(device).items()
        if n in by_n(single)
    }
    gpu_seen = bool(env and env["nvidia_smi"])
    return dict(
        backend=env and env["backend"],
        gpu_present=gpu_seen,
        gpu_used_by_jax=bool(env and env["backend"] == "gpu"),
        cpu_only=bool(env and env["backend"] == "cpu"),
        cpu_gpu_agreement=agreement,
        float32_vs_float64=precision,
        throughput=read("throughput.json"),
        largest=read("largest.json"),
    )


STEPS = dict(
    env=env_step, tstar=tstar_step, throughput=throughput_step, largest=largest_step, summary=summary_step
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=sorted(STEPS))
    parser.add_argument("file", help="the JSON file to write (summary: the folder OUT)")
    parser.add_argument("--ns", default="8,64")
    parser.add_argument("--precision", default="float64")
    parser.add_argument("--start", type=int, default=128)
    parser.add_argument("--limit", type=float, default=60.0)
    parser.add_argument("--deadline", type=float, default=float("inf"))
    args = parser.parse_args()
    result = dict(STEPS[args.step](args), command=f"device_check.py {args.step}", date=time.strftime("%F %T"))
    path = Path(args.file) / "summary.json" if args.step == "summary" else Path(args.file)
    write_json(path, result)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
