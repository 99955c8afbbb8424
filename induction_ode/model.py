"""The definition of the ODE in one frozen object: network, loss, metric, and what moves.

A :class:`Model` is everything that decides *which* gradient flow is integrated, as opposed
to *how* it is integrated (solver, tolerances, precision). :func:`~induction_ode.simulate`,
:func:`~induction_ode.emergence_time`, :func:`~induction_ode.sweep` and the mechanism tools
take one ``model=`` argument. It is hashable, so it is a static argument of compiled programs:
two equal models share their compiled code.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from .clamp import Clamp, free_mask
from .forms import late_entries, padded_label_weights, padded_loss, split_hessian
from .loss import check_theta, check_vocab_size, closed_form_forward, pattern_strength
from .positions import check_positions, check_query, width
from .subspace import N_PARAMS, PARAM_NAMES, embed, param_norms
from .task import canonical_batch, check_n_pairs
from .transformer import batch_losses, check_layer1_mask, check_loss


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
        positions: the positional code, ``"paired"`` (default: the paper's, pair ``i``'s code
            on its item and its rotation by ``M`` on its label) or ``"sinusoidal"`` (the first
            reconstruction, ``(cos ωt, sin ωt)`` with ``ω = π/T``); see
            :mod:`induction_ode.positions`.
        query: ``"uniform"`` (default: the query asks for a uniform pair) or ``"last"`` (pair
            ``N − 1`` only, the assumption of the paper's Theorem 2).
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

    reads: ClassVar[tuple[int, ...] | None] = None
    """The entries of θ the loss reads (``None``: all 19); the solver's Jacobian differentiates
    in these alone (its other columns are 0)."""
    form: ClassVar[str] = "auto"
    """How the closed form is evaluated (:data:`~induction_ode.forms.FORMS`): ``"auto"``, the
    structured form for the paired code (from ``N = AUTO_STRUCTURED_FROM`` on) and the dense
    one otherwise."""

    layer1_mask: str = "strict"
    positions: str = "paired"
    query: str = "uniform"
    loss: str = "mse"
    vocab_size: int | None = None
    metric: str | tuple = "identity"
    free: tuple[str, ...] | None = None
    clamp: Clamp | None = field(default=None)

    def __post_init__(self):
        check_layer1_mask(self.layer1_mask)
        check_positions(self.positions)
        check_query(self.query)
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
            positions=self.positions,
            query=self.query,
            loss=self.loss,
            vocab_size=self.vocab_size,
            metric="identity" if self.width is None else f"weights:{self.width}",
            free=None if self.free is None else list(self.free),
            clamp=None if self.clamp is None else self.clamp.label(),
        )

    # The ODE itself. ``n_pairs`` may be traced; ``n_pad`` is the static padded size.

    def metric_scale(self, dtype, n_pairs) -> jax.Array:
        """``1/n_i`` for the weights metric (``n_i = d`` on token blocks, the positional width
        ``P`` on positional ones), ones for the identity metric; shape ``(19,)``. ``n_pairs``
        may be traced (``P = 2N + 2`` for the paired code)."""
        if self.width is None:
            return jnp.ones(N_PARAMS, dtype)
        return (1.0 / param_norms(self.width, width(self.positions, n_pairs))).astype(dtype)

    def free_vector(self, dtype=jnp.float64) -> jax.Array:
        """``(19,)`` 1 for the free pseudo-parameters, 0 for the frozen ones."""
        return jnp.asarray(np.ones(N_PARAMS) if self.free is None else free_mask(self.free), dtype)

    def clamp_data(self, dtype, clamp=None):
        """The clamp as arrays (:class:`~induction_ode.clamp.ClampData`): ``clamp`` where given
        (compiled programs take it as data), else this model's; ``None``: unclamped."""
        if clamp is not None or self.clamp is None:
            return clamp
        return self.clamp.data(dtype)

    def moving(self, t, dtype, free=None, clamp=None) -> jax.Array:
        """``(19,)`` 1 where θ moves at time ``t`` (free and not held by a value clamp), else 0.

        ``free``: a ``(19,)`` 0/1 array that replaces :meth:`free_vector`; ``clamp``: a
        :class:`~induction_ode.clamp.ClampData` that replaces the model's clamp (compiled
        programs take both as data, so that models that differ only in them share a program).
        """
        moving = self.free_vector(dtype) if free is None else jnp.asarray(free, dtype)
        c = self.clamp_data(dtype, clamp)
        if c is not None:
            on = jnp.asarray(t >= c.t_on, dtype)
            moving = moving * (1 - on * jnp.asarray(c.held, dtype))
        return moving

    def effective(self, t, theta, clamp=None):
        """Clamped θ and pattern strengths at time ``t``: ``(theta_eff, strengths | None)``;
        ``clamp`` as in :meth:`moving`."""
        c = self.clamp_data(theta.dtype, clamp)
        if c is None:
            return theta, None
        on = jnp.asarray(t >= c.t_on, theta.dtype)
        held = jnp.asarray(c.held, theta.dtype) * on
        theta = (1 - held) * theta + held * jnp.asarray(c.values, theta.dtype)
        return theta, None if c.strengths is None else jnp.asarray(c.strengths, theta.dtype) * on

    def network(self) -> dict:
        """The static options of the closed form: ``layer1_mask``, ``positions`` (keywords of
        :func:`~induction_ode.loss.closed_form_forward`)."""
        return dict(layer1_mask=self.layer1_mask, positions=self.positions)

    def loss_of(self, theta, n_pairs, n_pad, pattern_clamp=None):
        """``L(θ)`` of this network, loss and query, with pattern strengths ``pattern_clamp``
        (``None``: unclamped, the bar of the emergence criterion)."""
        return padded_loss(
            theta,
            n_pairs,
            n_pad,
            query=self.query,
            loss=self.loss,
            vocab_size=self.vocab_size,
            pattern_clamp=pattern_clamp,
            form=self.form,
            **self.network(),
        )

    def label_weights(self, theta, n_pairs, n_pad, pattern_clamp=None):
        """:func:`~induction_ode.forms.padded_label_weights` of this network at ``θ``:
        ``(on_label, runner_up)``, ``(n_pad,)`` each."""
        options = dict(query=self.query, form=self.form, **self.network())
        return padded_label_weights(theta, n_pairs, n_pad, pattern_clamp, **options)

    def loss_at(self, t, theta, n_pairs, n_pad, clamp=None):
        """The (clamped) population loss the dynamics descend at time ``t``; ``clamp`` as in
        :meth:`moving`."""
        theta_eff, strength = self.effective(t, theta, clamp)
        return self.loss_of(theta_eff, n_pairs, n_pad, strength)

    def late_entries(self, n_pad, clamp=None) -> tuple[int, ...]:
        """:func:`~induction_ode.forms.late_entries` of this model's loss at ``n_pad``; ``()``
        with a clamp (this model's, or ``clamp`` as in :meth:`moving`: value clamps mix θ,
        pattern clamps take the forward pass) or a loss of its own (``reads``)."""
        if self.clamp is not None or clamp is not None or self.reads is not None:
            return ()
        options = dict(layer1_mask=self.layer1_mask, query=self.query, loss=self.loss, pattern_clamp=None)
        return late_entries(self.form, self.positions, n_pad, **options)

    def loss_hessian(self, t, theta, n_pairs, n_pad, clamp=None) -> jax.Array:
        """``∇²L`` of :meth:`loss_at` at ``θ`` ``(19,)``, ``(19, 19)``: the entries
        :meth:`late_entries` names held apart (:func:`~induction_ode.forms.split_hessian`), JAX's
        forward-over-reverse in all 19 where it names none; ``clamp`` as in :meth:`moving`."""
        loss = lambda th: self.loss_at(t, th, n_pairs, n_pad, clamp)  # noqa: E731
        late = self.late_entries(n_pad, clamp)
        return split_hessian(loss, theta, late) if late else jax.jacfwd(jax.grad(loss))(theta)

    def rhs(self, t, theta, n_pairs, n_pad, free=None, clamp=None):
        """``dθ/dt = −M ∇L`` with frozen and value-clamped entries held still. Shape ``(19,)``.

        ``free`` and ``clamp`` as in :meth:`moving`.
        """
        grad = jax.grad(self.loss_at, argnums=1)(t, theta, n_pairs, n_pad, clamp)
        moving = self.moving(t, theta.dtype, free, clamp)
        return -grad * self.metric_scale(theta.dtype, n_pairs) * moving


class DenseModel(Model):
    """A :class:`Model` whose loss is always the dense ``O(T³)`` closed form, the oracle of the
    structured one: pass it wherever a model goes (``emergence_time(N, model=DenseModel())``)
    to check a result of the paired code against it."""

    form = "dense"


class StructuredModel(Model):
    """A :class:`Model` of the paired code whose loss is always the structured closed form
    (:mod:`induction_ode.structured`), also at the small ``N`` where ``Model`` takes the
    dense one (``forms.AUTO_STRUCTURED_FROM``)."""

    form = "structured"


def _check(theta, n_pairs, model):
    """Validated ``(θ, N, model)`` for the public functions below."""
    n_pairs = check_n_pairs(n_pairs)
    model = Model() if model is None else model
    if not isinstance(model, Model):
        raise ValueError(f"model must be an induction_ode.Model, got {type(model).__name__}")
    return check_theta(theta), n_pairs, model.check(n_pairs)


def population_loss(theta, n_pairs: int, *, model: Model | None = None, patterns=()):
    """Exact population loss ``L(θ)`` of MODEL.md (closed form, no sampling).

    Args:
        theta: ``(19,)`` pseudo-parameters in ``PARAM_NAMES`` order.
        n_pairs: ``N ≥ 1``; the sequence length is ``T = 2N + 1``.
        model: the network, loss and query (default ``Model()``); its metric, free set and
            clamp do not enter the loss.
        patterns: attention-pattern clamps, any of ``PATTERN_CLAMPS``:
            ``previous_token`` (each label's layer-1 row is its own item), ``match`` (the
            query's layer-2 row is the correct label), ``copy`` (the readout is exactly the
            layer-2-retrieved token, ``γ = (0, 0, 1, 0)``).

    Returns:
        Scalar loss (``½`` at ``θ = 0`` for MSE, ``log V`` for CE), jit-able and differentiable.
    """
    theta, n_pairs, model = _check(theta, n_pairs, model)
    if model.loss == "ce":
        model = model.replace(vocab_size=check_vocab_size(model.vocab_size, n_pairs))
    return model.loss_of(theta, n_pairs, n_pairs, pattern_strength(patterns, theta.dtype))


def population_loss_direct(theta, n_pairs: int, *, model: Model | None = None):
    """The test oracle: the explicit network at token width ``d = V`` and the code's
    positional width on the canonical sequences (all ``N`` of them, or the last pair's for
    ``query="last"``).

    Costs ``O(T⁴)`` (an explicit ``T×T`` layer 1 with one-hot tokens for each ``k``).
    Returns the same scalar as :func:`population_loss`.
    """
    theta, n_pairs, model = _check(theta, n_pairs, model)
    vocab_size = check_vocab_size(model.vocab_size, n_pairs)
    batch = canonical_batch(n_pairs, vocab_size=vocab_size, positions=model.positions, dtype=theta.dtype)
    if model.query == "last":
        batch = jax.tree.map(lambda a: a[-1:], batch)
    weights = embed(theta, vocab_size, width(model.positions, n_pairs))
    return jnp.mean(batch_losses(weights, batch, loss=model.loss, layer1_mask=model.layer1_mask))


def attention_patterns(theta, n_pairs: int, k: int, *, model: Model | None = None, patterns=()):
    """Attention of the canonical sequence whose query is on pair ``k``.

    Returns:
        ``(layer1, layer2)``: ``layer1`` of shape ``(T, T)`` (row ``t`` is position ``t``'s
        distribution over the positions its mask allows: ``s < t`` under the strict mask,
        position 0 attending to itself, or ``s ≤ t`` under the inclusive one; the last row is
        the query's), and ``layer2`` of shape ``(T,)``, the query's layer-2 distribution. The
        correct label is position ``2k+1``.
    """
    theta, n_pairs, model = _check(theta, n_pairs, model)
    if not 0 <= int(k) < n_pairs:
        raise ValueError(f"k must be in 0 … {n_pairs - 1}, got {k}")
    strength = pattern_strength(patterns, theta.dtype)
    return _patterns(theta, n_pairs, k, strength, model.layer1_mask, model.positions)


@functools.partial(jax.jit, static_argnums=(1, 4, 5))
def _patterns(theta, n_pairs, k, strength, layer1_mask, positions):
    """:func:`attention_patterns` compiled once per length and network (``k`` is data)."""
    fwd = closed_form_forward(theta, n_pairs, n_pairs, strength, layer1_mask=layer1_mask, positions=positions)
    layer1 = fwd.layer1.at[-1].set(fwd.layer1_query[k])
    return layer1, fwd.layer2[k]
