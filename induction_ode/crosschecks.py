"""Cross-check: train the full-weight network and compare it with the ODE, side by side.

Gradient descent at learning rate ``η`` from zero is compared with the ODE under the
``("weights", d)`` metric on the same time grid ``t = step·η``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import jax
import numpy as np

from .memory import check_fits, crosscheck_bytes
from .model import Model
from .ode import emergence_time, simulate
from .transformer import train
from .validation import check_values


@dataclass(frozen=True)
class CrossCheck:
    """Full-weight training against the ODE (all times are gradient-flow times ``step·lr``).

    Attributes:
        settings: the arguments of :func:`crosscheck`.
        ts: ``(R,)`` recorded times.
        off_subspace_fraction: ``(R,)`` ``‖W − embed(project(W))‖ / ‖W‖``.
        trajectory_rel_error: ``(R,)`` ``‖project(W(t)) − θ_ode(t)‖ / ‖θ_ode(t)‖`` (``nan`` at t=0).
        loss_full: ``(R,)`` full model's loss on a fixed evaluation batch.
        loss_ode: ``(R,)`` the ODE's exact population loss.
        theta_full, theta_ode: ``(R, 19)``.
        t_star_ode, t_star_full: emergence times (``nan`` if not reached); the full model's
            is the first crossing of ``½ L(0)`` by its loss curve, linearly interpolated.
        wall_full, wall_ode: seconds for the training run and for the ODE on the same grid.
    """

    settings: dict
    ts: np.ndarray
    off_subspace_fraction: np.ndarray
    trajectory_rel_error: np.ndarray
    loss_full: np.ndarray
    loss_ode: np.ndarray
    theta_full: np.ndarray
    theta_ode: np.ndarray
    t_star_ode: float
    t_star_full: float
    wall_full: float
    wall_ode: float

    @property
    def max_off_subspace_fraction(self) -> float:
        return float(np.max(self.off_subspace_fraction))

    @property
    def max_trajectory_rel_error(self) -> float:
        return float(np.nanmax(self.trajectory_rel_error))

    @property
    def t_star_ratio(self) -> float:
        """``t_star_full / t_star_ode``."""
        return self.t_star_full / self.t_star_ode

    def to_json(self) -> dict:
        """A JSON-serialisable dict: every field, the maxima and the ratio."""
        out = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in asdict(self).items()}
        out.update(
            max_off_subspace_fraction=self.max_off_subspace_fraction,
            max_trajectory_rel_error=self.max_trajectory_rel_error,
            t_star_ratio=self.t_star_ratio,
        )
        return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in out.items()}


def first_crossing_time(ts, values, level) -> float:
    """First ``t`` at which a sampled curve falls to ``level`` (linear interpolation), or ``nan``."""
    ts, values = np.asarray(ts, float), np.asarray(values, float)
    below = np.flatnonzero(values <= level)
    if below.size == 0:
        return float("nan")
    i = below[0]
    if i == 0:
        return float(ts[0])
    frac = (values[i - 1] - level) / (values[i - 1] - values[i])
    return float(ts[i - 1] + frac * (ts[i] - ts[i - 1]))


def crosscheck(
    n_pairs: int,
    d: int,
    *,
    batch: int = 32768,
    steps: int = 900,
    lr: float = 1.0,
    seed: int = 0,
    record_every: int = 20,
    tokens: str = "signed_perm",
    phase: str = "uniform",
    eval_batch: int = 4096,
    layer1_mask: str = "strict",
    positions: str = "paired",
    query: str = "uniform",
    precision: str = "float64",
) -> CrossCheck:
    """Train the full network by gradient descent and integrate the ODE on the same grid.

    The defaults (batch 32768, 900 steps at lr 1) are those of ``examples/crosscheck.py``:
    at N = 3, d = 8 they run well past emergence, and the off-subspace noise (which falls
    like ``1/√batch``) stays near 1%. Larger N needs more steps (``t*`` grows with ``T``).

    Args:
        n_pairs, d: task size and width (``d ≥ 2N``).
        batch, steps, lr, seed, record_every: training settings (plain SGD, fresh batches).
        tokens, phase: sampler options; ``"gaussian"`` tokens or a ``"fixed"`` phase break
            the symmetry on purpose (negative controls).
        eval_batch: size of the fixed batch on which the full model's loss is measured.
        layer1_mask: ``"strict"`` (default) or ``"inclusive"``, for both the network and the ODE.
        positions: ``"paired"`` (default) or ``"sinusoidal"``, likewise.
        query: ``"uniform"`` (default) or ``"last"``, likewise.
        precision: the network's dtype, ``"float64"`` (default) or ``"float32"``; the ODE runs
            in float64.

    Returns:
        A :class:`CrossCheck`.
    """
    check_values(n_pairs=n_pairs, d=d, batch=batch, steps=steps, lr=lr, seed=seed)
    check_values(record_every=record_every, eval_batch=eval_batch)
    check_fits(lambda b: crosscheck_bytes(n_pairs, d, b, eval_batch), batch, "batch")
    settings = dict(
        n_pairs=n_pairs,
        d=d,
        batch=batch,
        steps=steps,
        lr=lr,
        seed=seed,
        record_every=record_every,
        tokens=tokens,
        phase=phase,
        eval_batch=eval_batch,
        layer1_mask=layer1_mask,
        positions=positions,
        query=query,
        precision=precision,
    )
    network = dict(layer1_mask=layer1_mask, positions=positions, query=query)
    model = Model(**network, metric=("weights", d))
    start = time.perf_counter()
    run = train(**settings)
    jax.block_until_ready(run.losses)
    wall_full = time.perf_counter() - start
    ts = np.asarray(run.steps, float) * lr
    start = time.perf_counter()
    ode = simulate(n_pairs, float(ts[-1]), ts=ts, model=model)
    wall_ode = time.perf_counter() - start
    theta_full = np.asarray(run.thetas)
    norm = np.linalg.norm(ode.thetas, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(norm > 0, np.linalg.norm(theta_full - ode.thetas, axis=1) / norm, np.nan)
    loss_full = np.asarray(run.losses)
    t_star_ode = emergence_time(n_pairs, model=model).t_star
    return CrossCheck(
        settings,
        ts,
        np.asarray(run.off_subspace),
        rel,
        loss_full,
        ode.losses,
        theta_full,
        ode.thetas,
        t_star_ode,
        first_crossing_time(ts, loss_full, 0.5 * loss_full[0]),
        wall_full,
        wall_ode,
    )
