"""Training standard transformers on the task, with clamps, and the clamp study.

Training uses optax (Adam by default, or SGD), a fresh batch every step drawn from the
training item classes, and a fixed seed: the same seed gives the same initial weights and
the same batches for every clamp, so clamped runs differ from the reference only by the
clamp. Several seeds train together: one program, vmapped over the seed axis of the weights,
the optimiser state, the batch keys and the held-out batch. Every ``eval_every`` steps the
loss, the accuracy and the per-head metrics are measured on one fixed batch of held-out items
(the clamp in force included).

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
from ..intervals import mean_interval
from ..validation import check_values
from .clamps import ClampArrays, StandardClamp
from .metrics import induction_strength, previous_token_score
from .model import LOSSES, ModelConfig, Params, init_params, loss_and_accuracy
from .progress import Progress, progress_measures
from .task import Task, sample

OPTIMIZERS = ("adam", "sgd")


@dataclass(frozen=True)
class TrainConfig:
    """Objective, optimiser and schedule. ``steps`` is rounded up to a multiple of ``eval_every``.

    ``loss`` is ``"ce"`` (cross-entropy over the labels, Singh et al.'s) or ``"mse"`` (the ODE's
    ``½‖ŷ − e_y‖²`` on the logits; the copy clamp, which writes log-probabilities into the
    logits, does not apply to it).
    """

    steps: int = 2000
    lr: float = 1e-3
    batch: int = 32
    optimizer: str = "adam"
    seed: int = 0
    eval_every: int = 50
    eval_batch: int = 512
    loss: str = "ce"

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; allowed: {', '.join(LOSSES)}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; allowed: {', '.join(OPTIMIZERS)}")
        check_values(
            steps=self.steps,
            lr=self.lr,
            batch=self.batch,
            seed=self.seed,
            eval_every=self.eval_every,
            eval_batch=self.eval_batch,
        )

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
        progress: Musat et al.'s measures per head (pair) (:class:`~.progress.Progress`, each
            array with a leading ``R``).
        params, params0: final and initial weights.
        wall_time: seconds, compilation included (of all seeds trained together).
        seed: the seed of the initial weights and the batches.
    """

    label: str
    steps: np.ndarray
    loss: np.ndarray
    accuracy: np.ndarray
    train_loss: np.ndarray
    induction: np.ndarray
    previous_token: np.ndarray
    progress: Progress = field(repr=False)
    params: Params = field(repr=False)
    params0: Params = field(repr=False)
    wall_time: float = 0.0
    seed: int = 0

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
            seed=self.seed,
        )


def seed_list(cfg: TrainConfig, n_seeds: int) -> tuple[int, ...]:
    """The seeds of ``n_seeds`` runs: ``cfg.seed, cfg.seed + 1, …``."""
    if n_seeds < 1:
        raise ValueError(f"the number of seeds must be >= 1, got {n_seeds}")
    return tuple(range(cfg.seed, cfg.seed + n_seeds))


def _seed_keys(seed: int):
    """``(init, eval, train)`` keys of one seed."""
    return jax.random.split(jax.random.PRNGKey(seed), 3)


@functools.lru_cache(maxsize=8)
def _programs(task: Task, model: ModelConfig, cfg: TrainConfig, seeds: tuple[int, ...]):
    """Compiled chunk-of-steps and evaluation programs, vmapped over ``seeds``, shared by every
    clamp of a study.

    Every array of a seed's run (weights, optimiser state, train keys, held-out batch) gains a
    leading seed axis; one program advances all seeds together. ``cfg.steps`` and ``cfg.seed``
    are not read (callers normalise them), so runs of any length share the programs.
    """
    opt = optax.adam(cfg.lr) if cfg.optimizer == "adam" else optax.sgd(cfg.lr)
    vectors = task.class_vectors()
    keys = jnp.stack([_seed_keys(s) for s in seeds])  # (K, 3, 2)
    k_init, k_eval, k_train = keys[:, 0], keys[:, 1], keys[:, 2]
    params0 = jax.vmap(lambda k: init_params(k, model, task))(k_init)
    eval_data = jax.vmap(lambda k: sample(task, k, cfg.eval_batch, heldout=True, vectors=vectors))(k_eval)

    def loss_fn(params, clamp, data):
        return loss_and_accuracy(params, model, clamp, data, cfg.loss)[0]

    def step(carry, i, clamp: ClampArrays, key):
        params, state = carry
        data = sample(task, jax.random.fold_in(key, i), cfg.batch, vectors=vectors)
        loss, grads = jax.value_and_grad(loss_fn)(params, clamp.at_step(i), data)
        updates, state = opt.update(grads, state, params)
        return (optax.apply_updates(params, updates), state), loss

    def chunk_one(params, state, start, clamp, key):
        (params, state), losses = jax.lax.scan(
            lambda c, i: step(c, i, clamp, key), (params, state), start + jnp.arange(cfg.eval_every)
        )
        return params, state, jnp.mean(losses)

    def evaluate_one(params, step_now, clamp, data):
        loss, (acc, out) = loss_and_accuracy(params, model, clamp.at_step(step_now), data, cfg.loss)
        return (
            loss,
            acc,
            induction_strength(out.learned[:, 1], data.k),
            previous_token_score(out.learned[:, 0]),
            progress_measures(params, model, vectors[: task.n_items], task.seq_len),
        )

    chunk = jax.jit(jax.vmap(chunk_one, in_axes=(0, 0, None, None, 0)))
    evaluate = jax.jit(jax.vmap(evaluate_one, in_axes=(0, None, None, 0)))
    chunk_all = lambda params, state, start, clamp: chunk(params, state, start, clamp, k_train)  # noqa: E731
    return params0, jax.vmap(opt.init), chunk_all, evaluate, eval_data


def _unstack(tree, i: int):
    return jax.tree.map(lambda a: a[i], tree)


def train_seeds(
    task: Task,
    model: ModelConfig | None = None,
    cfg: TrainConfig | None = None,
    clamp: StandardClamp | str | None = None,
    *,
    seeds: Sequence[int] | None = None,
    on_chunk: Callable[[int], None] | None = None,
    until: Callable[[np.ndarray, np.ndarray], bool] | None = None,
) -> list[TrainRun]:
    """Train from each seed's initial weights under ``clamp``, all seeds in one vmapped program.

    ``seeds`` default to ``(cfg.seed,)``; a seed fixes the initial weights, the training
    batches and the held-out batch. ``clamp`` is a spec for :meth:`StandardClamp.parse`.
    ``on_chunk(step)`` is called after every ``eval_every`` steps (for progress bars).
    ``until(steps (R,), held-out losses (K, R))``, asked after every evaluation, ends the
    training early when it answers ``True`` (``cfg.steps`` is then the most).
    Returns one :class:`TrainRun` per seed, in order; ``wall_time`` is the whole call's.
    """
    model, cfg = model or ModelConfig(), cfg or TrainConfig()
    seeds = (cfg.seed,) if seeds is None else tuple(int(s) for s in seeds)
    if isinstance(clamp, str):
        clamp = StandardClamp.parse(clamp)
    clamp = clamp or StandardClamp()
    if clamp.copy is not None and cfg.loss != "ce":
        raise ValueError(f"the copy clamp writes log-probabilities as logits: needs loss ce, not {cfg.loss}")
    arrays = clamp.arrays(model.heads)
    start = time.perf_counter()
    params0, opt_init, chunk, evaluate, eval_data = _programs(
        task, model, replace(cfg, steps=cfg.eval_every, seed=0), seeds
    )
    params, state = params0, opt_init(params0)
    rows, train_losses = [evaluate(params, 0, arrays, eval_data)], [np.full(len(seeds), np.nan)]
    for c in range(cfg.n_evals):
        params, state, mean_loss = chunk(params, state, c * cfg.eval_every, arrays)
        step_now = (c + 1) * cfg.eval_every
        rows.append(evaluate(params, step_now, arrays, eval_data))
        train_losses.append(np.asarray(mean_loss, float))
        if on_chunk is not None:
            on_chunk(step_now)
        done = np.arange(c + 2) * cfg.eval_every
        if until is not None and until(done, np.stack([np.asarray(r[0], float) for r in rows], axis=1)):
            break
    loss, acc, ind, prev, prog = (jax.tree.map(lambda *a: np.stack(a).astype(float), *v) for v in zip(*rows))
    train_loss = np.stack(train_losses)
    steps = np.arange(len(rows)) * cfg.eval_every
    wall = time.perf_counter() - start
    return [
        TrainRun(
            clamp.label(),
            steps,
            loss[:, i],
            acc[:, i],
            train_loss[:, i],
            ind[:, i],
            prev[:, i],
            Progress(*(a[:, i] for a in prog)),
            _unstack(params, i),
            _unstack(params0, i),
            wall,
            seed,
        )
        for i, seed in enumerate(seeds)
    ]


def train(
    task: Task,
    model: ModelConfig | None = None,
    cfg: TrainConfig | None = None,
    clamp: StandardClamp | str | None = None,
    *,
    on_chunk: Callable[[int], None] | None = None,
) -> TrainRun:
    """Train from ``cfg.seed``'s initial weights under ``clamp`` (:func:`train_seeds` with one seed)."""
    return train_seeds(task, model, cfg, clamp, on_chunk=on_chunk)[0]


def held_out_batch(task: Task, cfg: TrainConfig):
    """The fixed held-out evaluation batch of a run with ``cfg``'s seed."""
    return sample(task, _seed_keys(cfg.seed)[1], cfg.eval_batch, heldout=True)


@dataclass
class ClampStudy:
    """The unclamped reference and each clamped run, for every seed.

    Attributes:
        seeds: ``(K,)``.
        reference: the unclamped run of each seed.
        runs: per clamp, its run of each seed (same initial weights and batches as the
            reference of that seed).
    """

    seeds: tuple[int, ...]
    reference: list[TrainRun]
    runs: list[list[TrainRun]]

    @property
    def loss0(self) -> float:
        """The first seed's unclamped initial loss (``ln L`` for every seed: the readout starts at 0)."""
        return float(self.reference[0].loss[0])

    def rows(self) -> list[dict]:
        """Per clamp: the phase-change step, its ratio to the same seed's unclamped step, and the
        final loss and accuracy, each as :func:`~induction_ode.intervals.mean_interval` over seeds.

        The ratio is the mean of the per-seed ratios (each seed's clamped run against its own
        reference), with a t-interval; ``reached`` counts the seeds with a phase change.
        """
        out = []
        for seed_runs in (self.reference, *self.runs):
            steps, ratios = [], []
            for ref, r in zip(self.reference, seed_runs):
                ref_step, step = ref.phase_step(), r.phase_step(float(ref.loss[0]))
                steps.append(step)
                ratios.append(step / ref_step if np.isfinite(ref_step) and ref_step > 0 else float("nan"))
            out.append(
                dict(
                    clamp=seed_runs[0].label,
                    phase_step=mean_interval(steps),
                    reached=int(np.sum(np.isfinite(steps))),
                    ratio=mean_interval(ratios),
                    final_loss=mean_interval([r.loss[-1] for r in seed_runs]),
                    final_accuracy=mean_interval([r.accuracy[-1] for r in seed_runs]),
                    wall_time=seed_runs[0].wall_time,
                )
            )
        return out


def clamp_study(
    task: Task,
    model: ModelConfig | None = None,
    cfg: TrainConfig | None = None,
    clamps: Sequence[str | StandardClamp] = ("previous_token", "match", "copy", "match+copy"),
    *,
    seeds: Sequence[int] | None = None,
    from_step: int = 0,
    on_chunk: Callable[[str, int], None] | None = None,
    on_run: Callable[[list[TrainRun]], None] | None = None,
) -> ClampStudy:
    """Train unclamped, then under each clamp (string specs start at ``from_step``), every
    clamp for all ``seeds`` (default ``(cfg.seed,)``) at once.

    Empty clamps (``"none"``) are the reference and are not trained twice.
    ``on_chunk(label, step)`` and ``on_run(runs)`` (one run per seed) report progress.
    """
    model, cfg = model or ModelConfig(), cfg or TrainConfig()
    seeds = (cfg.seed,) if seeds is None else tuple(int(s) for s in seeds)
    specs = [StandardClamp.parse(c, from_step) if isinstance(c, str) else c for c in clamps]
    for s in specs:
        s.arrays(model.heads)  # head numbers checked before any training

    def one(spec):
        label = spec.label()
        report = None if on_chunk is None else lambda s: on_chunk(label, s)
        runs = train_seeds(task, model, cfg, spec, seeds=seeds, on_chunk=report)
        if on_run is not None:
            on_run(runs)
        return runs

    reference = one(StandardClamp())
    runs = [one(s) for s in specs if not s.empty]
    return ClampStudy(seeds, reference, runs)
