"""The definition of the ODE in one frozen object: network, loss, metric, and what moves.

A :class:`Model` is everything that decides *which* gradient flow is integrated, as opposed
to *how* it is integrated (solver, tolerances, precision). :func:`~induction_ode.simulate`,
:func:`~induction_ode.emergence_time`, :func:`~induction_ode.sweep` and the mechanism tools
take one ``model=`` argument. It is hashable, so it is a static argument of compiled programs:
two equal models share their compiled code.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import jax
import jax.numpy as jnp
import numpy as np

from .clamp import Clamp, free_mask
from .loss import check_vocab_size, padded_loss, pattern_strength
from .subspace import N_PARAMS, PARAM_NAMES, param_norms
from .transformer import check_layer1_mask, check_loss


def parse_metric(metric) -> int | None:
    """``"identity"`` → ``None``; ``("weights", d)`` or ``"weights:d"`` → ``d``."""
    if metric == "identity":
        return None
    if isinstance(metric, str) and metric.startswith("weights:"):
        metric = ("weights", metric.split(":", 1)[1])
    if isinstance(metric, (tuple, list)) and len(metric) == 2 and metric[0] == "weights":
        try:
            d = int(metric[1])
        except (TypeError, ValueError):
            d = 0
        if d >= 1:
            return d
    raise ValueError(f"unknown metric {metric!r}; allowed: 'identity' or ('weights', d) with integer d >= 1")


@dataclass(frozen=True)
class Model:
    """The gradient flow ``dθ/dt = −M ∇θ L(θ)`` of MODEL.md, with its options.

    Attributes:
        layer1_mask: ``"strict"`` (default: position ``t`` attends to ``s < t``, position 0 to
            itself) or ``"inclusive"`` (``s ≤ t``).
        loss: ``"mse"`` (``½‖ŷ − y_k‖²``) or ``"ce"`` (cross-entropy over ``V`` tokens).
        vocab_size: ``V ≥ 2N`` for ``"ce"``; ``None`` means ``2N`` for each length (always
            ``None`` for ``"mse"``, which does not read it).
        metric: ``"identity"`` (``M = I``) or ``("weights", d)`` / ``"weights:d"``
            (``M = diag(1/n_i)``: the exact image of full-weight gradient flow at width ``d``).
            Stored as ``"identity"`` or ``("weights", d)``.
        free: names of the pseudo-parameters that move (``None``: all 19); the others keep
            their initial value. Stored in ``PARAM_NAMES`` order, ``None`` when all are free.
        clamp: a :class:`~induction_ode.clamp.Clamp` (``None``: unclamped; an empty clamp is
            stored as ``None``).

    Checks that need the context length (``V ≥ 2N``, ``d ≥ 2N``) are in :meth:`check`.
    """

    layer1_mask: str = "strict"
    loss: str = "mse"
    vocab_size: int | None = None
    metric: str | tuple = "identity"
    free: tuple[str, ...] | None = None
    clamp: Clamp | None = field(default=None)

    def __post_init__(self):
        check_layer1_mask(self.layer1_mask)
        check_loss(self.loss)
        width = parse_metric(self.metric)
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        set_("metric", "identity" if width is None else ("weights", width))
        if self.loss != "ce":
            set_("vocab_size", None)
        elif self.vocab_size is not None:
            set_("vocab_size", int(self.vocab_size))
        if self.free is not None:
            mask = free_mask(self.free)
            set_("free", None if mask.all() else tuple(n for n, m in zip(PARAM_NAMES, mask) if m))
        if self.clamp is not None and not isinstance(self.clamp, Clamp):
            raise ValueError(f"clamp must be a Clamp or None, got {type(self.clamp).__name__}")
        if self.clamp is not None and self.clamp.empty:
            set_("clamp", None)  # the unclamped system: share its compiled programs

    def replace(self, **changes) -> Model:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    @property
    def width(self) -> int | None:
        """``d`` of the ``("weights", d)`` metric, ``None`` for the identity metric."""
        return None if self.metric == "identity" else self.metric[1]

    def check(self, n_max: int) -> Model:
        """Check the options against the largest ``N`` that will be run; returns ``self``."""
        if self.vocab_size is not None:
            check_vocab_size(self.vocab_size, n_max)
        if self.width is not None and self.width < 2 * n_max:
            raise ValueError(f"the weights metric needs d >= 2N = {2 * n_max}, got d={self.width}")
        return self

    def to_json(self) -> dict:
        """The model as a JSON-ready dict (metric as ``"identity"`` or ``"weights:d"``)."""
        return dict(
            layer1_mask=self.layer1_mask,
            loss=self.loss,
            vocab_size=self.vocab_size,
            metric="identity" if self.width is None else f"weights:{self.width}",
            free=None if self.free is None else list(self.free),
            clamp=None if self.clamp is None else self.clamp.label(),
        )

    # The ODE itself. ``n_pairs`` may be traced; ``n_pad`` is the static padded size.

    def metric_scale(self, dtype) -> jax.Array:
        """``1/n_i`` for the weights metric, ones for the identity metric; shape ``(19,)``."""
        if self.width is None:
            return jnp.ones(N_PARAMS, dtype)
        return jnp.asarray(1.0 / param_norms(self.width), dtype)

    def free_vector(self, dtype=jnp.float64) -> jax.Array:
        """``(19,)`` 1 for the free pseudo-parameters, 0 for the frozen ones."""
        return jnp.asarray(np.ones(N_PARAMS) if self.free is None else free_mask(self.free), dtype)

    def moving(self, t, dtype, free=None) -> jax.Array:
        """``(19,)`` 1 where θ moves at time ``t`` (free and not held by a value clamp), else 0.

        ``free``: a ``(19,)`` 0/1 array that replaces :meth:`free_vector` (compiled programs
        take it as data, so that models that differ only in ``free`` share one program).
        """
        moving = self.free_vector(dtype) if free is None else jnp.asarray(free, dtype)
        if self.clamp is not None:
            on = jnp.asarray(t >= self.clamp.t_on, dtype)
            moving = moving * (1 - on * jnp.asarray(self.clamp.value_mask(), dtype))
        return moving

    def effective(self, t, theta):
        """Clamped θ and pattern strengths at time ``t``: ``(theta_eff, strengths | None)``."""
        c = self.clamp
        if c is None:
            return theta, None
        on = jnp.asarray(t >= c.t_on, theta.dtype)
        held = jnp.asarray(c.value_mask(), theta.dtype) * on
        theta = (1 - held) * theta + held * jnp.asarray(c.value_vector(), theta.dtype)
        strength = pattern_strength(c.patterns, theta.dtype)
        return theta, None if strength is None else strength * on

    def unclamped_loss(self, theta, n_pairs, n_pad):
        """``L(θ)`` of this network and loss with no clamp (the bar of the emergence criterion)."""
        return padded_loss(
            theta, n_pairs, n_pad, loss=self.loss, vocab_size=self.vocab_size, layer1_mask=self.layer1_mask
        )

    def loss_at(self, t, theta, n_pairs, n_pad):
        """The (clamped) population loss the dynamics descend at time ``t``."""
        theta_eff, strength = self.effective(t, theta)
        return padded_loss(
            theta_eff,
            n_pairs,
            n_pad,
            loss=self.loss,
            vocab_size=self.vocab_size,
            pattern_clamp=strength,
            layer1_mask=self.layer1_mask,
        )

    def rhs(self, t, theta, n_pairs, n_pad, free=None):
        """``dθ/dt = −M ∇L`` with frozen and value-clamped entries held still. Shape ``(19,)``.

        ``free`` as in :meth:`moving`.
        """
        grad = jax.grad(self.loss_at, argnums=1)(t, theta, n_pairs, n_pad)
        return -grad * self.metric_scale(theta.dtype) * self.moving(t, theta.dtype, free)

    def jump_ts(self):
        """Times where the vector field jumps (a clamp switching on after ``t = 0``)."""
        return None if self.clamp is None or self.clamp.t_on == 0 else (self.clamp.t_on,)
