"""One training run of the n-gram model, measured: the library behind ``induction-ode ngram``.

:class:`Settings` holds everything that defines a run; :func:`run` samples the fixed training
set, trains the reduced model (gradient descent at ``lr``, or the gradient flow), measures the
three phases, evaluates the χ²-MI criterion, and optionally trains the full model on the same
sample. :func:`Run.record` is the JSON record the CLI writes and the figures are drawn from.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import phases as ph
from .criterion import Criterion, chi2_mutual_information
from .dynamics import Trajectory, gradient_descent, gradient_flow
from .full import full_loss, init_full_params
from .model import Architecture, feature_weights, head_attention, init_params, prepare, reduced_loss
from .sampler import NGramTask, check_int, fixed_sample


@dataclass(frozen=True)
class Settings:
    """A run of the n-gram model.

    Attributes:
        task: the data (``S, n, L, α``).
        arch: the model (``H``, window, ``M``, ``D``, loss).
        n_train: sequences in the fixed training sample.
        seed: the sample's seed (its kernels and chains).
        steps: gradient-descent steps (or, with ``flow``, the flow runs to ``t = steps × lr``).
        lr: learning rate; time ``t = step × lr``.
        flow: integrate the gradient flow instead of taking steps.
        w_plus, w_minus, c_init, a_init: the initialisation (NGRAM.md, the authors' values).
        draws: Monte Carlo draws of ``π`` for the criterion ``Ĩ(S)``.
        full_steps, full_lr: also train the full model on the same sample (0 steps: skip).
        proj_init: the full model's ``Q, K, O = proj_init · I``.
    """

    task: NGramTask = NGramTask()
    arch: Architecture = Architecture()
    n_train: int = 9000
    seed: int = 0
    steps: int = 1000
    lr: float = 1.0
    flow: bool = False
    w_plus: float = 3.0
    w_minus: float = 0.1
    c_init: float = 0.01
    a_init: float = 0.01
    draws: int = 2000
    full_steps: int = 0
    full_lr: float = 0.01
    proj_init: float = 0.01

    def __post_init__(self):
        check_int(self.n_train, "n_train", 1)
        check_int(self.steps, "steps", 1)
        check_int(self.seed, "the seed", 0)
        check_int(self.full_steps, "full_steps", 0)
        if not self.lr > 0 or not self.full_lr > 0:
            raise ValueError(f"learning rates must be > 0, got lr={self.lr}, full_lr={self.full_lr}")

    @property
    def t_end(self) -> float:
        return self.steps * self.lr

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


PRESETS = {
    "standard": dict(arch=dict(window="shared", loss="ce")),
    "reference-code": dict(arch=dict(window="shifted", loss="reference-code")),
}
"""``"standard"``: the standard definitions (shared windows, cross-entropy of ``ŷ``);
``"reference-code"``: the authors' run (shifted windows, ``ŷ`` taken as logits), NGRAM.md's
"Checks". Both: ``S = 3, n = 3, L = 100, α = 0.1, H = 3, D = 2``, 9,000 sequences, lr 1."""


def preset(name: str, **overrides) -> Settings:
    """Settings of a preset, with ``task``/``arch`` fields and the other fields overridden by name."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; allowed: {', '.join(PRESETS)}")
    task_fields = {f.name for f in dataclasses.fields(NGramTask)}
    arch_fields = {f.name for f in dataclasses.fields(Architecture)}
    task = {k: v for k, v in overrides.items() if k in task_fields and v is not None}
    arch = dict(PRESETS[name]["arch"])
    arch.update({k: v for k, v in overrides.items() if k in arch_fields and v is not None})
    rest = {k: v for k, v in overrides.items() if k not in task_fields | arch_fields and v is not None}
    return Settings(task=NGramTask(**task), arch=Architecture(**arch), **rest)


@functools.lru_cache(maxsize=16)
def objective(arch: Architecture, full: bool = False) -> Callable:
    """``loss(params, data)`` of the reduced (or full) model for ``arch``; one function object per
    architecture, so that the compiled training programs are reused across runs."""
    return lambda p, d: (full_loss if full else reduced_loss)(p, d, arch)


def measure(traj: Trajectory, arch: Architecture) -> dict:
    """The three phases on a reduced- or full-model trajectory (anything with ``W``, ``C``, ``a``).

    Returns a dict: ``c`` (R, n_subsets), ``concentration`` (R, H), ``best_offsets`` (H,),
    ``selection_time``, ``selected`` (subset index), ``selected_label``, ``selected_heads``,
    ``selected_offsets``, ``concentration_half_times`` (H,), ``t_concentration`` (the
    largest half-time among the selected heads; ``nan`` if none), ``a_fit`` (a :class:`LogFit`
    as a dict, or ``None`` if the run is too short).
    """
    ts = np.asarray(traj.ts)
    c = np.asarray(feature_weights(traj.params.C, arch))
    attn = np.asarray(head_attention(traj.params.W))  # (R, H, M)
    conc = attn.max(-1)
    offsets = arch.offsets()
    best = offsets[np.argmax(attn[-1], axis=-1), np.arange(arch.heads)]
    t_sel, winner = ph.selection(ts, c)
    heads = [comp - 1 for comp in arch.subsets()[winner]]
    halves = np.array([ph.half_time(ts, conc[:, h]) for h in range(arch.heads)])
    t_conc = float(np.nanmax(halves[heads])) if heads and np.any(np.isfinite(halves[heads])) else float("nan")
    try:
        fit = ph.fit_log_growth(ts, np.asarray(traj.params.a))._asdict()
    except ValueError:
        fit = None
    return dict(
        c=c,
        concentration=conc,
        best_offsets=best,
        selection_time=t_sel,
        selected=winner,
        selected_label=arch.subset_labels()[winner],
        selected_heads=heads,
        selected_offsets=sorted(int(best[h]) for h in heads),
        concentration_half_times=halves,
        t_concentration=t_conc,
        a_fit=fit,
    )


@dataclass
class Run:
    """A finished run: the settings, the trajectories, the measured phases, the criterion."""

    settings: Settings
    trajectory: Trajectory
    phases: dict
    criterion: Criterion
    unreachable: int
    wall_reduced: float
    wall_criterion: float
    full: Trajectory | None = None
    full_phases: dict | None = None
    wall_full: float = float("nan")

    def record(self) -> dict:
        """The JSON record (``kind = "ngram"``); ``environment`` is added by the caller."""
        s, tr, arch = self.settings, self.trajectory, self.settings.arch
        crit = self.criterion
        rec = dict(
            kind="ngram",
            config=s.to_json(),
            subsets=arch.subset_labels(),
            live=arch.live(),
            offsets=arch.offsets(),
            unreachable=self.unreachable,
            loss0=float(tr.losses[0]),
            phases={k: v for k, v in self.phases.items() if k not in ("c", "concentration")},
            criterion=dict(
                subsets=[list(x) for x in crit.subsets],
                value=crit.value,
                stderr=crit.stderr,
                draws=crit.draws,
                best=list(crit.best),
                margin=crit.margin,
                margin_err=crit.margin_err,
            ),
            final=dict(
                W=tr.params.W[-1],
                C=tr.params.C[-1],
                c=self.phases["c"][-1],
                a=float(tr.params.a[-1]),
                head_attention=np.asarray(head_attention(tr.params.W[-1])),
            ),
            initial=dict(head_attention=np.asarray(head_attention(tr.params.W[0]))),
            trajectory=_trajectory_json(tr, self.phases),
            wall_time=dict(reduced=self.wall_reduced, criterion=self.wall_criterion, full=self.wall_full),
        )
        if self.full is not None:
            rec["full"] = dict(
                phases={k: v for k, v in self.full_phases.items() if k not in ("c", "concentration")},
                trajectory=_trajectory_json(self.full, self.full_phases),
                final=dict(
                    a=float(self.full.params.a[-1]),
                    c=self.full_phases["c"][-1],
                    gamma=self.full.params.gamma[-1],
                    O=self.full.params.O[-1],
                ),
            )
        return rec


def _trajectory_json(tr: Trajectory, measured: dict) -> dict:
    return dict(
        ts=tr.ts,
        steps=tr.steps,
        losses=tr.losses,
        a=tr.params.a,
        W=tr.params.W,
        C=tr.params.C,
        c=measured["c"],
        concentration=measured["concentration"],
    )


def run(settings: Settings, *, on_progress: Callable[[str, int, int], None] | None = None) -> Run:
    """Sample, train the reduced model, measure the phases and the criterion (and the full model).

    ``on_progress(stage, done, total)`` is called as training advances (stages ``"reduced"``,
    ``"full"``).
    """
    s, arch = settings, settings.arch
    smp = fixed_sample(s.task, s.n_train, s.seed)
    unreachable = int(s.n_train - np.sum(np.asarray(smp.reachable)))
    prep = prepare(smp.inputs, smp.targets, arch)
    params0 = init_params(arch, w_plus=s.w_plus, w_minus=s.w_minus, c_init=s.c_init, a_init=s.a_init)
    loss = objective(arch)
    start = time.perf_counter()
    if s.flow:
        traj = gradient_flow(loss, params0, prep, t_end=s.t_end)
    else:
        report = None if on_progress is None else (lambda k, n: on_progress("reduced", k, n))
        traj = gradient_descent(loss, params0, prep, lr=s.lr, steps=s.steps, on_chunk=report)
    wall_reduced = time.perf_counter() - start
    measured = measure(traj, arch)
    start = time.perf_counter()
    window = int(arch.max_offset)
    crit = chi2_mutual_information(s.task, window, arch.degree, draws=s.draws, seed=s.seed)
    wall_crit = time.perf_counter() - start
    out = Run(s, traj, measured, crit, unreachable, wall_reduced, wall_crit)
    if s.full_steps:
        prep_full = prepare(smp.inputs, smp.targets, arch, own=True)
        fp0 = init_full_params(
            arch, proj_init=s.proj_init, w_plus=s.w_plus, w_minus=s.w_minus, c_init=s.c_init, a_init=s.a_init
        )
        start = time.perf_counter()
        report = None if on_progress is None else (lambda k, n: on_progress("full", k, n))
        out.full = gradient_descent(
            lambda p, d: full_loss(p, d, arch),
            fp0,
            prep_full,
            lr=s.full_lr,
            steps=s.full_steps,
            on_chunk=report,
        )
        out.wall_full = time.perf_counter() - start
        out.full_phases = measure(out.full, arch)
    return out
