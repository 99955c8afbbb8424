"""Training standard transformers on the task, with clamps, and the clamp study.

Training uses optax (Adam by default, or SGD), a fresh batch every step drawn from the
training item classes, and a fixed seed: the same seed gives the same initial weights and
the same batches for every clamp, so clamped runs differ from the reference only by the
clamp. Every ``eval_every`` steps the loss, the accuracy and the per-head metrics are measured
on one fixed batch of held-out items (the clamp in force included).

The phase-change step uses the ODE's criterion (:func:`induction_ode.emergence_time`): the
first step at which the held-out loss is at most half the *unclamped* run's initial loss,
linearly interpolated between evaluations
(:func:`induction_ode.crosschecks.first_crossing_time`).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..crosschecks import first_crossing_time
from .clamps import ClampArrays, StandardClamp
from .metrics import induction_strength, previous_token_score
from .model import ModelConfig, Params, init_params, loss_and_accuracy
from .task import Task, sample

OPTIMIZERS = ("adam", "sgd")


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser and schedule. ``steps`` is rounded up to a multiple of ``eval_every``."""

    steps: int = 2000
    lr: float = 1e-3
    batch: int = 32
    optimizer: str = "adam"
    seed: int = 0
    eval_every: int = 50
    eval_batch: int = 512

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; allowed: {', '.join(OPTIMIZERS)}")
        if self.steps < 1 or self.batch < 1 or self.eval_every < 1 or self.eval_batch < 1:
            raise ValueError("steps, batch, eval_every and eval_batch must be >= 1")
        if not self.lr > 0:
            raise ValueError(f"the learning rate must be > 0, got {self.lr}")

    @property
    def n_evals(self) -> int:
        return -(-self.steps // self.eval_every)

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class TrainRun:
    """One training run, one row per evaluation (step 0 first).

    Attributes:
        label: the clamp's label (``"none"`` unclamped).
        steps: ``(R,)``.
        loss, accuracy: ``(R,)`` on the held-out batch, with the clamp in force.
        train_loss: ``(R,)`` mean training-batch loss over the preceding ``eval_every`` steps
            (``nan`` at step 0).
        induction: ``(R, H)`` induction strength per layer-2 head (learned patterns).
        previous_token: ``(R, H)`` previous-token score per layer-1 head (learned patterns).
        params, params0: final and initial weights.
        wall_time: seconds, compilation included.
    """

    label: str
    steps: np.ndarray
    loss: np.ndarray
    accuracy: np.ndarray
    train_loss: np.ndarray
    induction: np.ndarray
    previous_token: np.ndarray
    params: Params = field(repr=False)
    params0: Params = field(repr=False)
    wall_time: float = 0.0

    def phase_step(self, reference_loss0: float | None = None) -> float:
        """First step with ``loss ≤ ½ L0`` (``L0``: this run's initial loss unless given); ``nan`` if none."""
        level = 0.5 * (self.loss[0] if reference_loss0 is None else reference_loss0)
        return first_crossing_time(self.steps, self.loss, level)

    def to_json(self) -> dict:
        return dict(
            label=self.label,
            steps=self.steps,
            loss=self.loss,
            accuracy=self.accuracy,
            train_loss=self.train_loss,
            induction=self.induction,
            previous_token=self.previous_token,
            wall_time=self.wall_time,
        )


@functools.lru_cache(maxsize=8)
def _programs(task: Task, model: ModelConfig, cfg: TrainConfig):
    """Compiled chunk-of-steps and evaluation programs, shared by every clamp of a study.

    ``cfg.steps`` is not read (callers normalise it), so runs of any length share them."""
    opt = optax.adam(cfg.lr) if cfg.optimizer == "adam" else optax.sgd(cfg.lr)
    vectors = task.class_vectors()
    key = jax.random.PRNGKey(cfg.seed)
    k_init, k_eval, k_train = jax.random.split(key, 3)
    params0 = init_params(k_init, model, task)
    eval_data = sample(task, k_eval, cfg.eval_batch, heldout=True, vectors=vectors)

    def loss_fn(params, clamp, data):
        return loss_and_accuracy(params, model, clamp, data)[0]

    def step(carry, i, clamp: ClampArrays):
        params, state = carry
        data = sample(task, jax.random.fold_in(k_train, i), cfg.batch, vectors=vectors)
        loss, grads = jax.value_and_grad(loss_fn)(params, clamp.at_step(i), data)
        updates, state = opt.update(grads, state, params)
        return (optax.apply_updates(params, updates), state), loss

    @jax.jit
    def chunk(params, state, start, clamp):
        (params, state), losses = jax.lax.scan(
            lambda c, i: step(c, i, clamp), (params, state), start + jnp.arange(cfg.eval_every)
        )
        return params, state, jnp.mean(losses)

    @jax.jit
    def evaluate(params, step_now, clamp):
        loss, (acc, out) = loss_and_accuracy(params, model, clamp.at_step(step_now), eval_data)
        return (
            loss,
            acc,
            induction_strength(out.learned[:, 1], eval_data.k),
            previous_token_score(out.learned[:, 0]),
        )

    return params0, opt, chunk, evaluate, eval_data


def train(
    task: Task,
    model: ModelConfig | None = None,
    cfg: TrainConfig | None = None,
    clamp: StandardClamp | str | None = None,
    *,
    on_chunk: Callable[[int], None] | None = None,
) -> TrainRun:
    """Train from the seed's initial weights under ``clamp`` (a spec for :meth:`StandardClamp.parse`).

    ``on_chunk(step)`` is called after every ``eval_every`` steps (for progress bars).
    """
    model, cfg = model or ModelConfig(), cfg or TrainConfig()
    if isinstance(clamp, str):
        clamp = StandardClamp.parse(clamp)
    clamp = clamp or StandardClamp()
    arrays = clamp.arrays(model.heads)
    start = time.perf_counter()
    params0, opt, chunk, evaluate, _ = _programs(task, model, replace(cfg, steps=cfg.eval_every))
    params, state = params0, opt.init(params0)
    rows, train_losses = [evaluate(params, 0, arrays)], [np.nan]
    for c in range(cfg.n_evals):
        params, state, mean_loss = chunk(params, state, c * cfg.eval_every, arrays)
        step_now = (c + 1) * cfg.eval_every
        rows.append(evaluate(params, step_now, arrays))
        train_losses.append(float(mean_loss))
        if on_chunk is not None:
            on_chunk(step_now)
    loss, acc, ind, prev = (np.asarray(jnp.stack(v)) for v in zip(*rows))
    return TrainRun(
        clamp.label(),
        np.arange(cfg.n_evals + 1) * cfg.eval_every,
        loss.astype(float),
        acc.astype(float),
        np.asarray(train_losses, float),
        ind.astype(float),
        prev.astype(float),
        params,
        params0,
        time.perf_counter() - start,
    )


def held_out_batch(task: Task, cfg: TrainConfig):
    """The fixed held-out evaluation batch of a run with ``cfg``'s seed."""
    key = jax.random.split(jax.random.PRNGKey(cfg.seed), 3)[1]
    return sample(task, key, cfg.eval_batch, heldout=True)


@dataclass
class ClampStudy:
    """The unclamped reference and each clamped run, with the same seed."""

    reference: TrainRun
    runs: list[TrainRun]

    @property
    def loss0(self) -> float:
        """The unclamped initial loss: half of it is the phase-change bar for every run."""
        return float(self.reference.loss[0])

    def rows(self) -> list[dict]:
        """Per run: the phase-change step, its ratio to the reference's, final loss and accuracy."""
        ref_step = self.reference.phase_step()
        out = []
        for r in (self.reference, *self.runs):
            step = r.phase_step(self.loss0)
            out.append(
                dict(
                    clamp=r.label,
                    phase_step=step,
                    reached=bool(np.isfinite(step)),
                    ratio=step / ref_step if np.isfinite(ref_step) and ref_step > 0 else float("nan"),
                    final_loss=float(r.loss[-1]),
                    final_accuracy=float(r.accuracy[-1]),
                    wall_time=r.wall_time,
                )
            )
        return out


def clamp_study(
    task: Task,
    model: ModelConfig | None = None,
    cfg: TrainConfig | None = None,
    clamps: Sequence[str | StandardClamp] = ("previous_token", "match", "copy", "match+copy"),
    *,
    from_step: int = 0,
    on_chunk: Callable[[str, int], None] | None = None,
    on_run: Callable[[TrainRun], None] | None = None,
) -> ClampStudy:
    """Train unclamped, then under each clamp (string specs start at ``from_step``).

    Empty clamps (``"none"``) are the reference and are not trained twice.
    ``on_chunk(label, step)`` and ``on_run(run)`` report progress.
    """
    model, cfg = model or ModelConfig(), cfg or TrainConfig()
    specs = [StandardClamp.parse(c, from_step) if isinstance(c, str) else c for c in clamps]
    for s in specs:
        s.arrays(model.heads)  # head numbers checked before any training

    def one(spec):
        label = spec.label()
        report = None if on_chunk is None else lambda s: on_chunk(label, s)
        run = train(task, model, cfg, spec, on_chunk=report)
        if on_run is not None:
            on_run(run)
        return run

    reference = one(StandardClamp())
    runs = [one(s) for s in specs if not s.empty]
    return ClampStudy(reference, runs)
