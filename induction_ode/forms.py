"""The evaluators of the closed form and their one dispatch.

One population loss (MODEL.md), computed in one of two ways that give the same
:class:`~induction_ode.loss.Forward`:

- ``"dense"`` (:func:`~induction_ode.loss.closed_form_forward`): any code, ``T×T`` layer-1
  patterns and one ``(N×T)·(T×T)`` product, ``O(T³)``; the test oracle.
- ``"structured"``: the paired code only. :func:`~induction_ode.structured.paired_forward`
  costs ``O(T)`` per pair, so ``O(T)`` in all for the last query. Under MSE with no pattern
  clamp the loss needs no forward pass: :func:`~induction_ode.paired_mse.paired_uniform_mse`
  gives the per-pair losses in ``O(T)`` in all, :func:`~induction_ode.paired_mse.paired_last_mse`
  the last pair's (cross-entropy and clamps take ``paired_forward``: ``O(T²)`` under the
  uniform query, ``O(T)`` under the last).

**The solver's Hessian** (:func:`split_hessian`, through
:meth:`~induction_ode.model.Model.loss_hessian`): for those sums, the entries they read only
after their ``O(T)`` arrays (:func:`late_entries`) are passed as a separate array, so that the
arrays carry 9 or 10 tangents (uniform query) or 4 or 5 (last query) instead of 19. Elsewhere
(cross-entropy, clamps, the dense form) JAX's forward-over-reverse in all 19.

``"auto"`` (the default everywhere) takes ``"structured"`` for the paired code from
``n_pad ≥`` :data:`AUTO_STRUCTURED_FROM` on, and ``"dense"`` below it and for the sinusoidal
code. A third evaluator serves the 3-parameter subspace alone:
:mod:`induction_ode.reduced`, swapped in by :func:`~induction_ode.reduced.program_model`.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from .loss import Forward, closed_form_forward, pair_losses, query_weights
from .options import check_option
from .paired_mse import paired_last_mse, paired_uniform_label_weights, paired_uniform_mse
from .structured import Entries, paired_forward
from .subspace import N_PARAMS, param_index

FORMS = ("auto", "dense", "structured")
"""How the closed form is evaluated (keyword ``form``)."""
AUTO_STRUCTURED_FROM = 32
"""``form="auto"`` takes the structured form for the paired code from this padded size on.

Below it the dense form is as fast to run and compiles faster: lone jitted gradients, 2 CPU
cores, 1.8 ms dense against 1.2 ms structured at N = 64 (``benchmarks/rhs_cost.py``); whole
emergence programs at N = 4 under the test suite's XLA flags, compilation included, 18 s dense
against 48 s structured with bdf and 13 against 17 s with tsit5 (cores shared)."""


def resolve_form(form: str, positions: str, n_pad: int) -> str:
    """``"dense"`` or ``"structured"`` for ``form`` under the code ``positions`` at the padded
    size ``n_pad``; ``ValueError`` for an unknown form or ``"structured"`` with the sinusoidal
    code."""
    check_option("form", form, FORMS)
    if form == "auto":
        return "structured" if positions == "paired" and n_pad >= AUTO_STRUCTURED_FROM else "dense"
    if form == "structured" and positions != "paired":
        raise ValueError("the structured closed form exists for positions='paired' only")
    return form


def forward(
    theta, n_pairs, n_pad: int, pattern_clamp=None, *, layer1_mask, positions, query="uniform", form="auto"
) -> Forward:
    """The closed form's :class:`~induction_ode.loss.Forward` by the evaluator ``form``.

    The structured evaluator computes pair ``N − 1`` alone when ``query == "last"`` (its
    arrays then have ``P = 1`` rows); the dense one computes every padded pair (``P = n_pad``).
    Other arguments as in :func:`~induction_ode.loss.closed_form_forward`.
    """
    if resolve_form(form, positions, n_pad) == "structured":
        pairs = "last" if query == "last" else "all"
        return paired_forward(theta, n_pairs, n_pad, pattern_clamp, layer1_mask=layer1_mask, pairs=pairs)
    network = dict(layer1_mask=layer1_mask, positions=positions)
    return closed_form_forward(theta, n_pairs, n_pad, pattern_clamp, **network)


def pair_weights(fwd: Forward, n_pairs, query: str, dtype) -> jax.Array:
    """The query's probability of each pair ``fwd`` holds, ``(P,)`` (:func:`query_weights`)."""
    return query_weights(n_pairs, fwd.target.shape[0], query, dtype)


def label_weights(fwd: Forward, n_pad: int) -> tuple[jax.Array, jax.Array]:
    """The query's layer-2 weight on the correct label and the largest on any other key, for
    each padded pair: two ``(n_pad,)`` arrays (a one-pair ``fwd`` fills the last, zeros elsewhere)."""
    on_label = jnp.take_along_axis(fwd.layer2, fwd.target[:, None], axis=1)[:, 0]
    is_label = jnp.arange(fwd.layer2.shape[1])[None, :] == fwd.target[:, None]
    runner_up = jnp.max(jnp.where(is_label, 0.0, fwd.layer2), axis=1)
    if on_label.shape[0] == n_pad:
        return on_label, runner_up
    place = jnp.zeros((n_pad,), on_label.dtype)
    return place.at[-1].set(on_label[-1]), place.at[-1].set(runner_up[-1])


def _by_sums(form, positions, n_pad, pattern_clamp) -> bool:
    """Whether the MSE sums of :mod:`induction_ode.paired_mse` serve (structured form, no
    pattern clamp), in place of a forward pass."""
    return resolve_form(form, positions, n_pad) == "structured" and pattern_clamp is None


def padded_label_weights(
    theta, n_pairs, n_pad: int, pattern_clamp=None, *, layer1_mask, positions, query="uniform", form="auto"
) -> tuple[jax.Array, jax.Array]:
    """:func:`label_weights` at ``θ`` by the evaluator ``form``: the uniform query under the
    structured form (no clamp) in ``O(T)`` memory, from its sums; otherwise from the forward."""
    if query == "uniform" and _by_sums(form, positions, n_pad, pattern_clamp):
        return paired_uniform_label_weights(theta, n_pairs, n_pad, strict=layer1_mask == "strict")
    options = dict(layer1_mask=layer1_mask, positions=positions, query=query, form=form)
    return label_weights(forward(theta, n_pairs, n_pad, pattern_clamp, **options), n_pad)


@functools.partial(jax.jit, static_argnames=("n_pad", "loss", "layer1_mask", "positions", "query", "form"))
def padded_loss(
    theta,
    n_pairs,
    n_pad: int,
    *,
    layer1_mask,
    positions,
    query="uniform",
    loss="mse",
    vocab_size=None,
    pattern_clamp=None,
    form="auto",
):
    """Closed-form population loss for ``N = n_pairs`` (traced allowed) padded to ``n_pad``:
    the per-pair losses weighted by :func:`query_weights`, by the evaluator ``form``."""
    if loss == "mse" and _by_sums(form, positions, n_pad, pattern_clamp):
        strict = layer1_mask == "strict"
        if query == "last":
            return paired_last_mse(theta, n_pairs, n_pad, strict=strict)
        per = paired_uniform_mse(theta, n_pairs, n_pad, strict=strict)
        weights = query_weights(n_pairs, n_pad, query, theta.dtype)
        return jnp.sum(jnp.where(weights > 0, per, 0.0) * weights)
    network = dict(layer1_mask=layer1_mask, positions=positions)
    fwd = forward(theta, n_pairs, n_pad, pattern_clamp, query=query, form=form, **network)
    per = pair_losses(fwd, n_pairs, loss=loss, vocab_size=vocab_size)
    return jnp.sum(per * pair_weights(fwd, n_pairs, query, theta.dtype))


LATE = tuple(param_index(f"beta{i}") for i in (1, 5, 6, 7, 8)) + tuple(
    param_index(f"gamma{i}") for i in range(1, 5)
)
"""The indices of β1, β5–β8 and γ1–γ4: the entries
:func:`~induction_ode.paired_mse.paired_uniform_mse` reads only after its ``O(T)`` sums (β1 scores
a pair's item alone, β5 and β7 the query key alone, β6 and β8 no key of the paired code; the
readout is linear in γ)."""
EARLY_LAST = tuple(param_index(name) for name in ("alpha1", "alpha3", "beta10", "beta12"))
"""The entries :func:`~induction_ode.paired_mse.paired_last_mse` reads in its ``O(T)`` arrays
under the strict mask (the inclusive mask adds α2); every other entry is late."""


def late_entries(form, positions, n_pad: int, *, layer1_mask, query, loss, pattern_clamp) -> tuple[int, ...]:
    """The entries of θ that :func:`padded_loss` reads only after its ``O(T)`` arrays, for
    :func:`split_hessian`, where the loss is the MSE sums of :mod:`induction_ode.paired_mse`
    (structured form, MSE, no pattern clamp): under the uniform query :data:`LATE`, and α2 under
    the strict mask (it then scores only the diagonal, which that mask removes); under the last
    query all but :data:`EARLY_LAST` (and α2 under the inclusive mask). ``()`` elsewhere."""
    if loss != "mse" or not _by_sums(form, positions, n_pad, pattern_clamp):
        return ()
    alpha2 = (param_index("alpha2"),)
    if query == "last":
        early = EARLY_LAST + (() if layer1_mask == "strict" else alpha2)
        return tuple(i for i in range(N_PARAMS) if i not in early)
    return tuple(sorted((alpha2 if layer1_mask == "strict" else ()) + LATE))


def split_hessian(loss_fn, theta, late: tuple[int, ...]) -> jax.Array:
    """The Hessian of ``loss_fn`` at ``theta`` ``(19,)``, ``(19, 19)``, with the ``late``
    entries (:func:`late_entries`) held apart.

    ``loss_fn`` reads θ entry by entry (it gets an :class:`~induction_ode.structured.Entries`),
    so its ``O(T)`` arrays, computed from the other entries alone, carry tangents only along
    those: the columns of the other entries are forward-over-reverse with one tangent each, the
    late block is the Hessian in the late entries alone (its derivatives touch only what follows
    the arrays), and the late entries' rows against the others follow by symmetry. Exact: the
    split sets the cost only."""
    early = tuple(i for i in range(N_PARAMS) if i not in late)
    e_idx, l_idx = jnp.asarray(early), jnp.asarray(late)
    split = lambda first, last: loss_fn(Entries(first, last, late))  # noqa: E731
    args = (theta[e_idx], theta[l_idx])
    by_early = jax.jacfwd(jax.grad(split, argnums=(0, 1)), argnums=0)(*args)  # ((e, e), (l, e))
    late_block = jax.hessian(split, argnums=1)(*args)
    hess = jnp.zeros((N_PARAMS, N_PARAMS), theta.dtype)
    hess = hess.at[e_idx[:, None], e_idx[None, :]].set(by_early[0])
    hess = hess.at[l_idx[:, None], e_idx[None, :]].set(by_early[1])
    hess = hess.at[e_idx[:, None], l_idx[None, :]].set(by_early[1].T)
    return hess.at[l_idx[:, None], l_idx[None, :]].set(late_block)
