"""The limit equations of the 3-parameter flow as T → ∞ (issue 20; results.md §10).

The paired code first. Strict mask, MSE, identity metric, from θ = 0, only ``a = α3``,
``b = β2``, ``g = γ3`` moving (the reduced closed form of :mod:`induction_ode.reduced`).
Write ``σ_k = e^a/(e^a + 2k)``, the weight of label row ``2k+1`` on its item, and
``c_s = W1[s, 2k]``, the layer-1 weight that the query's key ``s`` carries on its item, so that
the query's layer-2 scores are ``b c_s``.

While ``b σ_k ≪ 1`` (the whole approach to the head), the query's layer-2 weights are uniform
to first order, ``w_s = (1 + b (c_s − c̄))/T``, and the flow reads (``E_k`` the query's average
over its pairs)

    dg/dt = 1/T − g (T + 2)/T²,
    db/dt = g E_k[σ_k − c̄_k] / T,        da/dt = g b E_k[σ_k (1 − σ_k)] / T,

up to terms smaller by ``1/T`` (the ``Σ w²`` term is second order in the deviations, and
``c̄_k = Σ_s c_s / T`` is ``O(e^a/T)`` for the last pair and ``O(1/T)`` on average).

- ``query="last"`` (``k = N − 1``): ``σ = e^a/(e^a + T − 3)``, so ``E[σ] = e^a/T`` and
  ``E[σ(1 − σ)] = e^a/T`` up to ``1 + O(e^a/T)``.
- ``query="uniform"``: ``Σ_k e^a/(e^a + 2k) = ½ e^a [ψ(N + e^a/2) − ψ(e^a/2)] + …``, so
  ``E[σ] = e^a ln T / T · (1 + O((1 + a)/ln T))``, and the same for ``E[σ(1 − σ)]``.

``g`` relaxes to ``T/(T + 2)`` on the time scale ``T``; the paper's ``T_γ`` (``g = ½``) is
:func:`gamma_time`, ``T ln 2 + 2 − 2 ln 2 + O(1/T)``. In rescaled time ``τ = t/T²`` (last) or
``τ = t ln T / T²`` (uniform), ``g → 1`` and ``(a, b)`` converge to the T-free system

    da/dτ = b e^a,    db/dτ = e^a,    a(0) = b(0) = 0                       (:func:`field`)

whose solution is ``a = b²/2``, ``τ(b) = ∫₀ᵇ e^{−x²/2} dx = √(π/2) erf(b/√2)``
(:func:`tau_of_beta`): it blows up at ``τ_c = √(π/2)``. The loss can halve only once
``b σ_k ~ ln T``, i.e. after ``a`` reaches ``ln T``; in the limit this is the blow-up, so
``t*/T² → τ_c`` (last) and ``t* ln T / T² → τ_c`` (uniform). The corrections are ``O(ln T/T)``
for the last query, but only ``O(1/ln T)`` for the uniform one; this derivation gives the
limits, not the ``1/ln T`` coefficients (they need the next order of the sums over ``k`` and
the passage through ``a ~ ln T``, which it does not treat).

**The sinusoidal code, query on the last pair.** The label row ``T−2`` scores gap ``d`` by
``a sin(πd/T)``, so ``T σ → 1/m(a)`` with ``m(a) = (1/π) ∫₀^π e^{a sin x} dx``, the mean of its
row's weights; the same expansion gives, in ``τ = t/T²``, the T-free system
(:func:`sinusoidal_field`, corrections ``O(1/T)``)

    da/dτ = −b m'(a)/m(a)²,    db/dτ = 1/m(a),

with no blow-up: ``a → −∞`` (the score of the smallest gap wins) and ``|a|, b`` grow like
``e^{πτ/2}``, so the label's score ``b σ = b/(T m(a))`` grows like ``e^{πτ}/T`` and reaches
``O(1)`` only at ``τ = (ln T)/π + O(1)``: ``t* ≈ T² ln T / π``, not ``Θ(T²)``, while ``T_β/T²``
and ``T_α/T²`` (``|α3| = ½``) have finite limits (:func:`sinusoidal_limit_times`). Under the
uniform query ``b`` gains a ``ln T`` (as above) and ``a`` does not, so the two scales mix; that
case is not reduced here.
"""

from __future__ import annotations

import math

import numpy as np

TAU_C = math.sqrt(math.pi / 2)  # the blow-up time of field(), the limit of t*·(rescaling)/T²


def field(a, b):
    """``(da/dτ, db/dτ) = (b e^a, e^a)``, the limit equation; any array shapes that broadcast."""
    e = np.exp(a)
    return b * e, e


def tau_of_beta(b: float) -> float:
    """The rescaled time at which the limit solution (``a = b²/2``) reaches ``β2 = b``."""
    return TAU_C * math.erf(b / math.sqrt(2))


def limit_times(level: float = 0.5) -> dict:
    """The limits of the rescaled emergence times: ``T_β`` (``β2 = level``), ``T_α``
    (``α3 = level``, i.e. ``β2 = √(2 level)``), ``t*`` (the blow-up ``√(π/2)``), and
    ``T_γ/T`` (``ln 2`` for ``level = ½``: ``g = 1 − e^{−t/T}`` in the limit)."""
    return dict(
        t_star=TAU_C,
        alpha3=tau_of_beta(math.sqrt(2 * level)),
        beta2=tau_of_beta(level),
        gamma3=-math.log(1 - level),
    )


_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(64)


def row_mean(a):
    """``(m(a), m'(a))``: ``m(a) = (1/π) ∫₀^π e^{a sin x} dx`` (Gauss–Legendre, 64 nodes:
    exact to rounding for ``|a| ≤ 20``) and its derivative; ``a`` a scalar."""
    x = (_NODES + 1) * np.pi / 2
    e = np.exp(a * np.sin(x)) * _WEIGHTS / 2
    return float(np.sum(e)), float(np.sum(np.sin(x) * e))


def sinusoidal_field(a, b):
    """``(da/dτ, db/dτ) = (−b m'(a)/m(a)², 1/m(a))``, the sinusoidal code's limit (last query)."""
    m, dm = row_mean(a)
    return -b * dm / m**2, 1 / m


def sinusoidal_limit_times(level: float = 0.5, step: float = 1e-4) -> dict:
    """The limits of ``T_β/T²`` (``β2 = level``) and ``T_α/T²`` (``α3 = −level``) under the
    sinusoidal code, last query: RK4 of :func:`sinusoidal_field` from 0 with ``step``, each
    crossing interpolated linearly within its step."""
    y, tau, found = np.zeros(2), 0.0, {}

    def rhs(v):
        return np.array(sinusoidal_field(v[0], v[1]))

    while len(found) < 2:
        k1 = rhs(y)
        k2 = rhs(y + step / 2 * k1)
        k3 = rhs(y + step / 2 * k2)
        k4 = rhs(y + step * k3)
        new = y + step / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        for name, i, sign in (("beta2", 1, 1.0), ("alpha3", 0, -1.0)):
            if name not in found and sign * new[i] >= level:
                found[name] = float(tau + step * (level - sign * y[i]) / (sign * (new[i] - y[i])))
        y, tau = new, tau + step
    return found


def gamma_time(seq_len: int, level: float = 0.5) -> float:
    """``T_γ`` of ``dg/dt = 1/T − g (T+2)/T²`` from ``g = 0``: ``T²/(T+2) ln(1/(1 − level
    (T+2)/T))`` (exact while ``β2`` is still ``O(ln T/T)``, i.e. for the reduced paired flow)."""
    t = float(seq_len)
    return t**2 / (t + 2) * math.log(1 / (1 - level * (t + 2) / t))
