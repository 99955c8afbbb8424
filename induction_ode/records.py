"""JSON records of runs: configuration, versions, device, wall time, and results.

Every record is a dict with ``"kind"`` (``"sweep"``, ``"simulate"``, ``"crosscheck"``,
``"clamp"``, ``"standard"``, ``"ngram"`` or ``"ladder"``; ``"standard-parts"`` and
``"ngram-parts"`` for the finished parts of an unfinished run,
:class:`~induction_ode.commands.KeptParts`), ``"format"`` (:data:`RECORD_FORMAT`), ``"config"``
(the arguments that define the run), ``"environment"`` and the results. A figure can always be
redrawn from its record (:mod:`induction_ode.plots`).
"""

from __future__ import annotations

import csv
import json
import math
import os
import platform
from pathlib import Path

import numpy as np

from .model import Model
from .ode import Emergence
from .subspace import KEY_PARAMS

RECORD_FORMAT = 1
"""The layout of the records this version writes. Records without ``"format"`` predate it and
read as format 1 (their missing options as :data:`LEGACY_CONFIG` says); a larger number is a
record of a newer version, which this one refuses rather than misreads."""

LEGACY_CONFIG = dict(positions="sinusoidal", query="uniform")
"""What a record written before an option existed ran with: the sinusoidal code (the only one
before the paired code) and the uniform query."""


def with_legacy(config: dict) -> dict:
    """A record's configuration with the options it predates filled in (:data:`LEGACY_CONFIG`)."""
    return {**LEGACY_CONFIG, **config}


def model_of(config: dict) -> Model:
    """The :class:`~induction_ode.Model` a record's configuration describes (its free set too;
    legacy records read as :func:`with_legacy` says)."""
    config = with_legacy(config)
    keys = ("layer1_mask", "positions", "query", "loss", "vocab_size", "metric", "free")
    return Model(**{k: config[k] for k in keys if config.get(k) is not None})


def environment() -> dict:
    """Package, JAX and Python versions and the default JAX device."""
    import diffrax
    import jax

    from . import __version__

    return dict(
        induction_ode=__version__,
        jax=jax.__version__,
        diffrax=diffrax.__version__,
        python=platform.python_version(),
        device=str(jax.devices()[0]),
        platform=jax.default_backend(),
    )


def _clean(value):
    """JSON-safe copy: arrays to lists, non-finite floats to None."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return _clean(value.tolist())
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def as_json(value):
    """``value`` as it reads back from the JSON that :func:`write_json` writes: lists for
    arrays and tuples, ``None`` for non-finite floats."""
    return json.loads(json.dumps(_clean(value)))


def write_json(path: Path, record: dict) -> None:
    """Write atomically (a temporary file, then rename), so a kill never leaves half a file and
    an interrupt (Ctrl-C) no temporary one. A record (a dict with ``"kind"``) is stamped with
    :data:`RECORD_FORMAT`."""
    if isinstance(record, dict) and "kind" in record:
        record = {"format": RECORD_FORMAT, **record}
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        tmp.write_text(json.dumps(_clean(record), indent=2))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_json(path: Path) -> dict:
    """The JSON in ``path``, unchecked (scripts that know what they read; the command line
    reads records with :func:`read_record`)."""
    return json.loads(Path(path).read_text())


def read_record(path: Path, kinds: tuple[str, ...], fix: str) -> dict:
    """The record in ``path``, checked to be JSON, of one of ``kinds`` and of a format this
    version reads; else ``ValueError`` in one line that names the file and ends with ``fix``
    (what the user should do)."""
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"cannot read {path} ({getattr(err, 'strerror', None) or err}); {fix}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        what = f"{err.msg}, line {err.lineno} column {err.colno}"
        raise ValueError(f"{path} is not valid JSON: truncated or damaged ({what}); {fix}") from None
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind not in kinds:
        names = ", ".join(kinds[:-1]) + (" or " if len(kinds) > 1 else "") + kinds[-1]
        raise ValueError(f"{path} is not a {names} record (kind={kind!r}); {fix}")
    version = data.get("format", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version > RECORD_FORMAT:
        raise ValueError(
            f"{path} has record format {version!r}, newer than the {RECORD_FORMAT} this version reads; "
            f"upgrade induction_ode, or {fix}"
        )
    return data


def emergence_record(e: Emergence, wall_time: float) -> dict:
    """One context length's result as a JSON-ready dict (times in gradient-flow units)."""
    return dict(
        n_pairs=e.n_pairs,
        seq_len=2 * e.n_pairs + 1,
        t_star=e.t_star,
        emerged=e.emerged,
        half_times=e.half_times,
        paper_times=e.paper_times,
        order=list(e.order),
        label_attention=e.label_attention,
        label_contrast=e.label_contrast,
        loss0=e.loss0,
        theta_star=e.theta_star,
        theta_end=e.theta_end,
        t_max=e.t_max,
        solver=e.solver,
        steps=e.steps,
        gradient_evals=e.gradient_evals,
        jacobian_evals=e.jacobian_evals,
        solved=e.solved,
        wall_time=wall_time,
    )


SWEEP_COLUMNS = (
    "n_pairs",
    "seq_len",
    "t_star",
    *(f"t_half_{k}" for k in KEY_PARAMS),
    *(f"T_{k}" for k in KEY_PARAMS),
    "label_attention",
    "solver",
    "steps",
    "gradient_evals",
    "jacobian_evals",
    "wall_time",
)


def write_sweep_csv(path: Path, lengths: list[dict]) -> None:
    """One row per length: N, T, t*, the three half-times, the paper's three emergence times
    (first ``|x| ≥ 0.5``; empty in records that predate them or where not reached), label
    attention, the solver and its counts (steps, gradient and Jacobian evaluations; empty where
    not counted), wall time (s)."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(SWEEP_COLUMNS)
        for r in lengths:
            halves = [r["half_times"][k] for k in KEY_PARAMS]
            halves += [r.get("paper_times", {}).get(k) for k in KEY_PARAMS]
            counts = [r.get(k) for k in ("solver", "steps", "gradient_evals", "jacobian_evals")]
            head = [r["n_pairs"], r["seq_len"], r["t_star"], *halves, r["label_attention"]]
            writer.writerow([*head, *counts, r["wall_time"]])
