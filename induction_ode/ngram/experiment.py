"""One training run of the n-gram model, measured: the library behind ``induction-ode ngram``.

:class:`Settings` holds everything that defines a run; :func:`run` samples the fixed training
set, trains the reduced model (gradient descent at ``lr``, or the gradient flow), measures the
three phases, evaluates the χ²-MI criterion, and optionally trains the full model on the same
sample. :func:`Run.record` is the JSON record the CLI writes and the figures are drawn from;
:func:`run_record` computes the same record part by part (the reduced model, the criterion,
the full model), so that the CLI can keep each part as it finishes and reuse it on
``--resume``.
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
        reduced = _model_part(self.trajectory, self.phases, self.wall_reduced)
        criterion = _criterion_part(self.criterion, self.wall_criterion)
        full = _model_part(self.full, self.full_phases, self.wall_full, full=True)
        return _assemble(self.settings, self.unreachable, reduced, criterion, full)


def _model_part(tr: Trajectory | None, measured: dict | None, wall: float, full: bool = False) -> dict | None:
    """One model's part of the record (``None`` for a model not trained): ``phases``, ``final``
    (with ``gamma`` and ``O`` for the ``full`` model), ``initial``, ``trajectory`` and
    ``wall_time`` (s)."""
    if tr is None:
        return None
    part = dict(_model_json(tr, measured), wall_time=wall)
    if full:
        part["final"].update(gamma=tr.params.gamma[-1], O=tr.params.O[-1])
    return part


def _criterion_part(crit: Criterion, wall: float) -> dict:
    """The criterion's part of the record, with its ``wall_time`` (s)."""
    return dict(
        subsets=[list(x) for x in crit.subsets],
        value=crit.value,
        stderr=crit.stderr,
        draws=crit.draws,
        best=list(crit.best),
        margin=crit.margin,
        margin_err=crit.margin_err,
        wall_time=wall,
    )


def _assemble(
    settings: Settings, unreachable: int, reduced: dict | None, criterion: dict, full: dict | None
) -> dict:
    """The record of :meth:`Run.record` from its parts (:func:`_model_part`,
    :func:`_criterion_part`), whose wall times (s) go to its ``wall_time``."""
    arch = settings.arch
    reduced, criterion, full = (None if p is None else dict(p) for p in (reduced, criterion, full))
    wall = dict(
        reduced=reduced.pop("wall_time") if reduced else 0.0,
        criterion=criterion.pop("wall_time"),
        full=full.pop("wall_time") if full else float("nan"),
    )
    rec = dict(
        kind="ngram",
        config=settings.to_json(),
        subsets=arch.subset_labels(),
        live=arch.live(),
        offsets=arch.offsets(),
        unreachable=unreachable,
        criterion=criterion,
        wall_time=wall,
    )
    if reduced is not None:
        rec.update(reduced, loss0=float(reduced["trajectory"]["losses"][0]))
    if full is not None:
        rec["full"] = full
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


def _stages(settings: Settings, on_progress: Callable[[str, int, int], None] | None):
    """The training sample's unreachable count and the run's three stages, each a function of
    no arguments, run in this order: the reduced model's ``(trajectory, phases, wall)``
    (``None`` if ``steps == 0``), the criterion's ``(criterion, wall)`` and the full model's
    ``(trajectory, phases, wall)`` (``None`` if ``full_steps == 0``); walls in seconds."""
    s, arch = settings, settings.arch
    report = lambda stage: None if on_progress is None else (lambda k, n: on_progress(stage, k, n))  # noqa: E731
    smp = fixed_sample(s.task, s.n_train, s.seed)
    unreachable = int(s.n_train - np.sum(np.asarray(smp.reachable)))

    def timed(work):
        start = time.perf_counter()
        value = work()
        return value, time.perf_counter() - start

    def reduced():
        traj, wall = timed(lambda: _train_reduced(s, smp, report("reduced")))
        return traj, measure(traj, arch), wall

    def criterion():
        window = int(arch.max_offset)
        return timed(lambda: chi2_mutual_information(s.task, window, arch.degree, draws=s.draws, seed=s.seed))

    def full():
        traj, wall = timed(lambda: train_full(s, smp, on_chunk=report("full")))
        return traj, measure(traj, arch), wall

    return unreachable, reduced if s.steps else None, criterion, full if s.full_steps else None


def run(settings: Settings, *, on_progress: Callable[[str, int, int], None] | None = None) -> Run:
    """Sample, train the reduced model, measure the phases and the criterion (and the full model).

    ``on_progress(stage, done, total)`` is called as training advances (stages ``"reduced"``,
    ``"full"``).
    """
    unreachable, reduced, criterion, full = _stages(settings, on_progress)
    traj, measured, wall_reduced = reduced() if reduced else (None, None, 0.0)
    crit, wall_criterion = criterion()
    out = Run(settings, traj, measured, crit, unreachable, wall_reduced, wall_criterion)
    if full:
        out.full, out.full_phases, out.wall_full = full()
    return out


def run_record(
    settings: Settings,
    *,
    on_progress: Callable[[str, int, int], None] | None = None,
    keep: Callable[[str, Callable[[], dict]], dict] = lambda name, compute: compute(),
) -> dict:
    """The record of :func:`run`, computed part by part: ``keep(name, compute)`` returns the part
    ``name`` (``"reduced"``, ``"criterion"``, ``"full"``), ``compute()``'s or one kept from
    an earlier, interrupted run (:class:`~induction_ode.commands.KeptParts`)."""
    unreachable, reduced, criterion, full = _stages(settings, on_progress)
    parts = dict(
        reduced=reduced and keep("reduced", lambda: _model_part(*reduced())),
        criterion=keep("criterion", lambda: _criterion_part(*criterion())),
        full=full and keep("full", lambda: _model_part(*full(), full=True)),
    )
    return _assemble(settings, unreachable, **parts)
