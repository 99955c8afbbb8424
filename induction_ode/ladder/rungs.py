"""The rungs of the ladder: what each trains, and the one thing it changes from the rung before.

No JAX here: the command line checks ``--rungs`` before anything compiles.

Families:

- ``"ode"``: the 19-parameter ODE (:func:`induction_ode.sweep`), MSE, under the metric of
  gradient descent on the weights at the ladder's width ``d`` (``("weights", d)``), so that its
  time is the next rung's ``step × lr``;
- ``"network"``: the full-weight disentangled network of MODEL.md
  (:func:`induction_ode.transformer.train_seeds`), orthonormal tokens (random signed
  permutations, :data:`induction_ode.ladder.run.TOKENS`), the paired code;
- ``"standard"``: the standard transformer of :mod:`induction_ode.standard` (D = 64, pre-LayerNorm,
  no MLP, learned embeddings, Adam at 1e-3, batch 32).

*Natural scale.* ``init`` is a multiple of the width's natural scale ``1/√D`` with
``D = d + P`` the width of layer 1's input (tokens and positions): i.i.d. ``N(0, (init/√D)²)``
entries in every matrix, so ``init = 1`` is the usual ``1/√fan-in`` initialisation of ``A1``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

FAMILIES = ("ode", "network", "standard")


@dataclass(frozen=True)
class Rung:
    """One rung.

    Attributes:
        name: ``"R0"`` … ``"R6b"``.
        change: the change from the rung before, in words.
        family: one of :data:`FAMILIES`.
        init: initial scale as a multiple of the natural scale (``network``; 0: zero init).
        loss: ``"mse"`` or ``"ce"``.
        optimizer: ``"sgd"`` or ``"adam"``.
        lr: learning rate, the same at every ``N`` (``None``: the ladder's SGD rate).
        heads: heads per layer (``standard``).
        positions: ``"rope"`` or ``"learned"`` (``standard``).
    """

    name: str
    change: str
    family: str
    init: float = 0.0
    loss: str = "mse"
    optimizer: str = "sgd"
    lr: float | None = None
    heads: int = 1
    positions: str = "rope"

    def to_json(self) -> dict:
        return asdict(self)


ADAM_LR = 1e-2
"""Adam's rate on the disentangled network (R4), the same at every ``N``."""
STANDARD_LR = 1e-3
"""Adam's rate on the standard transformer (R5, R6): §7's."""

RUNGS = (
    Rung("R0", "the ODE (MSE, the weights metric at width d)", "ode"),
    Rung("R1", "full-weight network, zero init, orthonormal tokens, plain GD", "network"),
    Rung("R2", "random init at 1e-3 of the natural scale", "network", init=1e-3),
    Rung("R2b", "random init at 1e-1 of the natural scale", "network", init=1e-1),
    Rung("R3", "R2 with cross-entropy", "network", init=1e-3, loss="ce"),
    Rung("R4", "R3 with Adam", "network", init=1e-3, loss="ce", optimizer="adam", lr=ADAM_LR),
    Rung("R5", "standard transformer, 1 head per layer, RoPE", "standard", loss="ce", optimizer="adam",
         lr=STANDARD_LR),  # fmt: skip
    Rung("R6", "8 heads per layer (§7's model)", "standard", loss="ce", optimizer="adam", lr=STANDARD_LR,
         heads=8),  # fmt: skip
    Rung("R6b", "learned positions instead of RoPE", "standard", loss="ce", optimizer="adam",
         lr=STANDARD_LR, heads=8, positions="learned"),  # fmt: skip
)
"""The default ladder. Each rung's ``before`` is the rung above it in this list, except R3,
whose base is R2 (R2b is R2's other scale)."""

BEFORE = {"R1": "R0", "R2": "R1", "R2b": "R1", "R3": "R2", "R4": "R3", "R5": "R4", "R6": "R5", "R6b": "R6"}
"""The rung each rung changes one thing of."""

QUICK = ("R0", "R1")
"""The rungs of ``--quick``."""


def select_rungs(names) -> tuple[Rung, ...]:
    """The rungs named in ``names`` (a comma-separated string or a sequence), in ladder order;
    ``ValueError`` in one line for an unknown or missing name."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    known = {r.name: r for r in RUNGS}
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        given = ", ".join(unknown) or "(none given)"
        raise ValueError(f"unknown rung(s) {given}; allowed: {', '.join(known)}")
    return tuple(r for r in RUNGS if r.name in set(names))
