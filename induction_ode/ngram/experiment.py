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

from ..validation import check_values
from . import phases as ph
from .criterion import Criterion, chi2_mutual_information
from .dynamics import Trajectory, gradient_descent, gradient_flow
from .full import full_loss, init_full_params
from .model import Architecture, feature_weights, head_attention, init_params, prepare, reduced_loss
from .sampler import NGramSample, NGramTask, check_int, fixed_sample


@dataclass(frozen=True)
class Settings:
    """A run of the n-gram model.

    Attributes:
        task: the data (``S, n, L, α``).
        arch: the model (``H``, window, ``M``, ``D``, loss).
        n_train: sequences in the fixed training sample.
        seed: the sample's seed (its kernels and chains).
        steps: the reduced model's gradient-descent steps (or, with ``flow``, the flow runs to
            ``t = steps × lr``); 0 trains the full model only.
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
        check_int(self.steps, "steps", 0)
        check_int(self.seed, "the seed", 0)
        check_int(self.full_steps, "full_steps", 0)
        if self.steps == 0 and (self.flow or self.full_steps == 0):
            raise ValueError("steps = 0 trains the full model only: it needs full_steps >= 1 and no flow")
        check_values(family="ngram", lr=self.lr, full_lr=self.full_lr, draws=self.draws)

    @property
    def t_end(self) -> float:
        return self.steps * self.lr

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


PRESETS = {
    "standard": dict(arch=dict(window="shared", loss="ce")),
    "reference-code": dict(arch=dict(window="shifted", loss="reference-code")),
    "appendix-b": dict(
        arch=dict(window="shifted", loss="reference-code"),
        steps=0,
        full_steps=10_000,
        full_lr=1e-3,
        proj_init=1e-3,
        w_plus=1.0,
        w_minus=0.01,
    ),
}
"""``"standard"``: the standard definitions (shared windows, cross-entropy of ``ŷ``);
``"reference-code"``: the authors' run (shifted windows, ``ŷ`` taken as logits), NGRAM.md's
"Checks"; ``"appendix-b"``: the authors' full-model run of the paper's Appendix B (NGRAM.md,
"The full model"), the full model only: ``Q = K = O = 0.001·I``, ``w+ = 1``, ``w− = 0.01``,
10⁴ steps at lr 0.001, shifted windows, the authors' loss. All: ``S = 3, n = 3, L = 100,
α = 0.1, H = 3, D = 2``, 9,000 sequences of seed 0; the other fields as :class:`Settings`."""


def preset(name: str, **overrides) -> Settings:
    """Settings of a preset; ``overrides`` (any :class:`Settings`, ``task`` or ``arch`` field by
    name; ``None`` means "the preset's") replace the preset's values."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; allowed: {', '.join(PRESETS)}")
    task_fields = {f.name for f in dataclasses.fields(NGramTask)}
    arch_fields = {f.name for f in dataclasses.fields(Architecture)}
    task = {k: v for k, v in overrides.items() if k in task_fields and v is not None}
    arch = dict(PRESETS[name]["arch"])
    arch.update({k: v for k, v in overrides.items() if k in arch_fields and v is not None})
    rest = {k: v for k, v in PRESETS[name].items() if k != "arch"}
    rest.update({k: v for k, v in overrides.items() if k not in task_fields | arch_fields and v is not None})
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
    """A finished run: the settings, the trajectories, the measured phases, the criterion.

    ``trajectory`` and ``phases`` (the reduced model) are ``None`` when ``settings.steps == 0``;
    ``full`` and ``full_phases`` are ``None`` when ``settings.full_steps == 0``.
    """

    settings: Settings
    trajectory: Trajectory | None
    phases: dict | None
    criterion: Criterion
    unreachable: int
    wall_reduced: float
    wall_criterion: float
    full: Trajectory | None = None
    full_phases: dict | None = None
    wall_full: float = float("nan")

    def record(self) -> dict:
        """The JSON record (``kind = "ngram"``); ``environment`` is added by the caller.

        The reduced model's ``loss0``, ``phases``, ``final``, ``initial`` and ``trajectory`` are at
        the top level (absent when it was not trained), the full model's under ``full``, in the
        same layout (its ``final`` adds ``gamma`` and ``O``).
        """
        s, arch, crit = self.settings, self.settings.arch, self.criterion
        rec = dict(
            kind="ngram",
            config=s.to_json(),
            subsets=arch.subset_labels(),
            live=arch.live(),
            offsets=arch.offsets(),
            unreachable=self.unreachable,
            criterion=dict(
                subsets=[list(x) for x in crit.subsets],
                value=crit.value,
                stderr=crit.stderr,
                draws=crit.draws,
                best=list(crit.best),
                margin=crit.margin,
                margin_err=crit.margin_err,
            ),
            wall_time=dict(reduced=self.wall_reduced, criterion=self.wall_criterion, full=self.wall_full),
        )
        if self.trajectory is not None:
            rec.update(_model_json(self.trajectory, self.phases), loss0=float(self.trajectory.losses[0]))
        if self.full is not None:
            rec["full"] = _model_json(self.full, self.full_phases)
            rec["full"]["final"].update(gamma=self.full.params.gamma[-1], O=self.full.params.O[-1])
        return rec


def _model_json(tr: Trajectory, measured: dict) -> dict:
    """One model's part of the record: ``phases``, ``final``, ``initial``, ``trajectory``."""
    return dict(
        phases={k: v for k, v in measured.items() if k not in ("c", "concentration")},
        final=dict(
            W=tr.params.W[-1],
            C=tr.params.C[-1],
            c=measured["c"][-1],
            a=float(tr.params.a[-1]),
            head_attention=np.asarray(head_attention(tr.params.W[-1])),
        ),
        initial=dict(head_attention=np.asarray(head_attention(tr.params.W[0]))),
        trajectory=dict(
            ts=tr.ts,
            steps=tr.steps,
            losses=tr.losses,
            a=tr.params.a,
            W=tr.params.W,
            C=tr.params.C,
            c=measured["c"],
            concentration=measured["concentration"],
        ),
    )


def train_full(
    settings: Settings,
    smp: NGramSample,
    *,
    save_steps=None,
    on_chunk: Callable[[int, int], None] | None = None,
) -> Trajectory:
    """The full model trained on ``smp`` as ``settings`` say (``full_steps`` steps at ``full_lr``
    from ``Q = K = O = proj_init·I``); ``save_steps`` as :func:`gradient_descent`."""
    s, arch = settings, settings.arch
    prep = prepare(smp.inputs, smp.targets, arch, own=True)
    params0 = init_full_params(
        arch, proj_init=s.proj_init, w_plus=s.w_plus, w_minus=s.w_minus, c_init=s.c_init, a_init=s.a_init
    )
    return gradient_descent(
        objective(arch, full=True),
        params0,
        prep,
        lr=s.full_lr,
        steps=s.full_steps,
        save_steps=save_steps,
        on_chunk=on_chunk,
    )


def _train_reduced(settings: Settings, smp: NGramSample, report) -> Trajectory:
    s, arch = settings, settings.arch
    prep = prepare(smp.inputs, smp.targets, arch)
    params0 = init_params(arch, w_plus=s.w_plus, w_minus=s.w_minus, c_init=s.c_init, a_init=s.a_init)
    if s.flow:
        return gradient_flow(objective(arch), params0, prep, t_end=s.t_end)
    return gradient_descent(objective(arch), params0, prep, lr=s.lr, steps=s.steps, on_chunk=report)


def run(settings: Settings, *, on_progress: Callable[[str, int, int], None] | None = None) -> Run:
    """Sample, train the reduced model, measure the phases and the criterion (and the full model).

    ``on_progress(stage, done, total)`` is called as training advances (stages ``"reduced"``,
    ``"full"``).
    """
    s, arch = settings, settings.arch
    report = lambda stage: None if on_progress is None else (lambda k, n: on_progress(stage, k, n))  # noqa: E731
    smp = fixed_sample(s.task, s.n_train, s.seed)
    unreachable = int(s.n_train - np.sum(np.asarray(smp.reachable)))
    traj, measured, start = None, None, time.perf_counter()
    if s.steps:
        traj = _train_reduced(s, smp, report("reduced"))
        measured = measure(traj, arch)
    wall_reduced = time.perf_counter() - start
    start = time.perf_counter()
    crit = chi2_mutual_information(s.task, int(arch.max_offset), arch.degree, draws=s.draws, seed=s.seed)
    out = Run(s, traj, measured, crit, unreachable, wall_reduced, time.perf_counter() - start)
    if s.full_steps:
        start = time.perf_counter()
        out.full = train_full(s, smp, on_chunk=report("full"))
        out.wall_full = time.perf_counter() - start
        out.full_phases = measure(out.full, arch)
    return out
