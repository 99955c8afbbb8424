"""Shared helpers of the benchmark scripts: timing, device names and the results file.

Every script merges one entry into ``benchmarks/results/<device>.json`` under its own name,
with the device, versions, settings, command line and measurements. Benchmarks measure;
they assert nothing about speed.
"""

from __future__ import annotations

import json
import re
import statistics
import sys
import time
from pathlib import Path

import jax
import numpy as np

from induction_ode.records import environment, write_json

RESULTS = Path(__file__).parent / "results"


def device_name() -> str:
    """A file-name-safe device name, e.g. ``cpu`` or ``nvidia-h100-80gb-hbm3``."""
    dev = jax.devices()[0]
    kind = dev.platform if dev.platform == "cpu" else dev.device_kind
    return re.sub(r"[^a-z0-9]+", "-", kind.lower()).strip("-")


def median_time(fn, repeats: int) -> tuple[float, list[float]]:
    """Median wall seconds of ``fn()`` over ``repeats`` calls (``fn`` blocks until ready)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def loglog_slope(x, y) -> float:
    """Least-squares slope of ``log y`` against ``log x``."""
    return float(np.polyfit(np.log(np.asarray(x, float)), np.log(np.asarray(y, float)), 1)[0])


def save(name: str, settings: dict, results: dict) -> Path:
    """Merge ``{name: {...}}`` into ``results/<device>.json`` and return its path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{device_name()}.json"
    record = json.loads(path.read_text()) if path.exists() else {}
    record[name] = dict(
        command="python " + " ".join(sys.argv),
        environment=environment(),
        devices=[str(d) for d in jax.devices()],
        settings=settings,
        results=results,
        date=time.strftime("%Y-%m-%d"),
    )
    write_json(path, record)
    print(f"wrote {path} [{name}]")
    return path
