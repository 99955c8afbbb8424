"""Mechanism experiments: reduced dynamics (which pseudo-parameters are needed) and clamps.

- :func:`is_induction_head`: the criterion used throughout: the loss halves *and* at ``2 t*``
  the query's layer-2 attention selects the correct label: at least :data:`HEAD_ATTENTION` of
  its weight, or at least :data:`HEAD_CONTRAST` times the weight of the most attended other
  position (each averaged over the query's pairs: ``Emergence.label_contrast``).
- :func:`removal_study` and :func:`minimal_free_set`: integrate with some pseudo-parameters
  frozen at 0 (``free=``) and ask whether an induction head still forms.
- :func:`clamp_experiment`: clamp subcircuits in the spirit of Singh et al. (2024) and
  measure how ``t*`` and the plateau loss move against the unclamped run.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .clamp import Clamp
from .loss import PATTERN_CLAMPS
from .model import Model
from .ode import Emergence, emergence_time, simulate
from .subspace import PARAM_NAMES, param_index
from .validation import check_values

CLAMP_SETS = tuple("+".join(c) for r in (1, 2) for c in itertools.combinations(PATTERN_CLAMPS, r))
"""The single pattern clamps and every pair: ``previous_token``, …, ``match+copy``."""

HEAD_ATTENTION = 0.5
"""Layer-2 weight on the correct label (averaged over the query's pairs, at ``2 t*``) that
counts as an induction head on its own: most of the query's attention. At θ = 0 it attends
uniformly (weight ``1/T``)."""

HEAD_CONTRAST = 10.0
"""The other way to count as a head: the label gets at least this many times the layer-2 weight
of the most attended other position (``Emergence.label_contrast``, 1 for uniform attention).

In MODEL.md's terms the head is β2's match (the query attends to the key whose layer-1-copied
item is its own token: the correct label) feeding γ3's copy, so what matters is that the match
singles the label out. The share alone fails heads that solve the task: under the paired code
with all 19 free it falls with N (0.58 at N = 8, 0.51 at N = 32, 0.48 at N = 64, 0.41 at
N = 256) while the loss falls to ~1e-4, because the readout subtracts the evenly spread
remainder (γ2 < 0 on the query's layer-1 output); there the label gets 90–320 times the weight
of any other position. The contrast alone, at a low bar, admits a slow route that is not the
paper's head: with only β2 and γ3 free (N = 8, t* = 3,540 against 159 with α3 too), uniform
causal averaging gives the position right after the query's item the largest weight on it,
and β2 = 40 turns that into a share of 0.465 at a contrast of 2.05. Ten separates the two
(docs/results.md §9)."""


def is_induction_head(e: Emergence) -> bool:
    """``e.emerged``, and at ``2 t*`` the label attention is at least :data:`HEAD_ATTENTION` or
    the label contrast at least :data:`HEAD_CONTRAST`."""
    if not e.emerged:
        return False
    return bool(e.label_attention >= HEAD_ATTENTION or e.label_contrast >= HEAD_CONTRAST)


def _without(names: Sequence[str], name: str) -> tuple[str, ...]:
    return tuple(n for n in names if n != name)


def _with_free(model: Model | None, free) -> Model:
    return (Model() if model is None else model).replace(free=free)


def removal_study(
    n_pairs: int, base: Sequence[str] = PARAM_NAMES, *, model: Model | None = None, **kwargs
) -> dict[str, Emergence]:
    """Emergence with each name of ``base`` frozen at 0 in turn (the rest of ``base`` free).

    ``model`` (default ``Model()``) gives the mask, loss, metric and clamp; its ``free`` is
    replaced. ``kwargs`` go to :func:`~induction_ode.emergence_time`. Returns
    ``{removed name: Emergence}``.
    """
    base = tuple(base)
    for name in base:
        param_index(name)
    return {
        name: emergence_time(n_pairs, model=_with_free(model, _without(base, name)), **kwargs)
        for name in base
    }


def minimal_free_set(
    n_pairs: int,
    start: Sequence[str] = PARAM_NAMES,
    on_try: Callable[[tuple[str, ...], bool], None] | None = None,
    *,
    model: Model | None = None,
    **kwargs,
) -> tuple[str, ...]:
    """A set of free pseudo-parameters that still forms an induction head, none removable.

    A greedy pass over ``start`` (in order) drops each name whose removal keeps an induction
    head; passes repeat until one drops nothing, so no single removal from the result forms
    a head. About ``19 + |result|`` runs from all 19. ``on_try(free, head)`` reports each run.
    ``model`` and ``kwargs`` as in :func:`removal_study`. Raises ``ValueError`` if ``start``
    itself forms no head.
    """

    def head_with(free):
        return is_induction_head(emergence_time(n_pairs, model=_with_free(model, free), **kwargs))

    current = tuple(start)
    head = head_with(current)
    if on_try is not None:
        on_try(current, head)
    if not head:
        raise ValueError(f"free={current} forms no induction head at N={n_pairs}")
    changed = True
    while changed:  # the second pass checks that no single removal is left
        changed = False
        for name in tuple(current):
            trial = _without(current, name)
            head = bool(trial) and head_with(trial)
            if on_try is not None:
                on_try(trial, head)
            if head:
                current, changed = trial, True
    return current


@dataclass(frozen=True)
class ClampRun:
    """One clamped (or the unclamped) run.

    Attributes:
        label: the clamp, e.g. ``"match+copy"`` or ``"none"``.
        t_star: first time with ``L ≤ ½ L(0)`` (``L(0)`` unclamped); ``nan`` if not reached.
        emerged: whether ``t_star`` was reached before the time limit.
        plateau_loss: the loss at ``t_plateau``, the middle of the unclamped plateau.
        ts, losses: the loss curve ``(S,)`` on ``[0, 2 t*_ref]``.
    """

    label: str
    t_star: float
    emerged: bool
    plateau_loss: float
    ts: np.ndarray
    losses: np.ndarray


@dataclass(frozen=True)
class ClampExperiment:
    """Clamped runs against the unclamped reference at one context length.

    ``t_plateau = t*_ref / 2``: the unclamped loss is still on its plateau there.
    """

    n_pairs: int
    t_on: float
    t_plateau: float
    reference: ClampRun
    runs: tuple[ClampRun, ...]

    def rows(self) -> list[dict]:
        """Per clamp: ``t*``, ``t*/t*_ref`` and the plateau-loss shift ``L_clamp − L_ref``."""
        ref = self.reference
        return [
            dict(
                clamp=r.label,
                t_star=r.t_star,
                emerged=r.emerged,
                t_star_ratio=r.t_star / ref.t_star,
                plateau_loss=r.plateau_loss,
                plateau_shift=r.plateau_loss - ref.plateau_loss,
            )
            for r in (ref, *self.runs)
        ]

    def to_json(self) -> dict:
        return dict(
            n_pairs=self.n_pairs,
            t_on=self.t_on,
            t_plateau=self.t_plateau,
            table=self.rows(),
            curves={r.label: dict(ts=r.ts, losses=r.losses) for r in (self.reference, *self.runs)},
        )


def clamp_experiment(
    n_pairs: int,
    clamps: Sequence[str | Clamp] = CLAMP_SETS,
    *,
    t_on: float = 0.0,
    n_points: int = 401,
    on_run: Callable[[ClampRun], None] | None = None,
    model: Model | None = None,
    **kwargs,
) -> ClampExperiment:
    """Run the unclamped system and each clamp from ``t_on``; compare ``t*`` and plateau loss.

    Args:
        clamps: :class:`~induction_ode.clamp.Clamp` objects or specs for
            :meth:`Clamp.parse` (``"match+copy"``, ``"alpha3=0"``); string specs use ``t_on``.
        n_points: points of each loss curve on ``[0, 2 t*_ref]``.
        on_run: called with each :class:`ClampRun` as it finishes (reference first).
        model: the unclamped ODE (default ``Model()``); each run replaces its ``clamp``.
        kwargs: ``rtol``, ``atol``, ``solver``, … for :func:`~induction_ode.emergence_time`
            and :func:`~induction_ode.simulate`.

    Returns:
        A :class:`ClampExperiment`.
    """
    check_values(t_on=t_on, n_points=n_points)
    clamps = [Clamp.parse(c, t_on) if isinstance(c, str) else c for c in clamps]
    model = (Model() if model is None else model).replace(clamp=None)
    ref_e = emergence_time(n_pairs, model=model, **kwargs)
    if not ref_e.emerged:
        raise ValueError(f"the unclamped system does not emerge at N={n_pairs} before t_max={ref_e.t_max:g}")
    t_end = 2 * ref_e.t_star
    ts = np.linspace(0.0, t_end, n_points)
    t_plateau = 0.5 * ref_e.t_star

    def run(label, clamped, e):
        traj = simulate(n_pairs, t_end, ts=ts, model=clamped, **kwargs)
        plateau = float(np.interp(t_plateau, traj.ts, traj.losses))
        result = ClampRun(label, e.t_star, e.emerged, plateau, traj.ts, traj.losses)
        if on_run is not None:
            on_run(result)
        return result

    reference = run("none", model, ref_e)
    runs = []
    for c in clamps:
        clamped = model.replace(clamp=c)
        runs.append(run(c.label(), clamped, emergence_time(n_pairs, model=clamped, **kwargs)))
    runs = tuple(runs)
    return ClampExperiment(n_pairs, float(t_on), t_plateau, reference, runs)
