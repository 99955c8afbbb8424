"""Clamps for standard transformers (Singh et al. 2024), in the ODE's vocabulary.

The names are those of :data:`induction_ode.loss.PATTERN_CLAMPS` and of
:meth:`induction_ode.clamp.Clamp.parse` (``previous_token``, ``match``, ``copy``, joined by
``+``), plus ``ablate``, which only a multi-head network can express:

- ``previous_token``: the chosen layer-1 heads' patterns become "each position attends to
  the one before" (position 0 to itself);
- ``match``: the chosen layer-2 heads' query rows put weight ``s`` on the correct label and
  ``(1 − s)/(N − 1)`` on each other label (``s = 1`` by default; ``match=0.8`` sets it);
- ``copy``: the logits are ``−∞`` (``−1e9``) except for the labels in context, which get the
  log of the chosen layer-2 heads' (mean) query attention on their positions. For a learned
  pattern this is the pre-softmax score up to a constant that the softmax ignores, which is
  Singh et al.'s clamp; under ``match+copy`` it reads the clamped pattern, as the ODE does;
- ``ablate=L2H3`` (or ``ablate=L2``): that head's (that layer's) values are zero.

Heads are chosen with ``@``: ``match@3``, ``previous_token@0.1`` (heads 0 and 1); the
default is every head of the layer. A clamp acts from training step ``from_step`` on, in
training and in evaluation; before it the network is the unclamped one. Everything the clamp
does not replace keeps its gradient.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from ..loss import PATTERN_CLAMPS
from ..validation import check

ALL = "all"
NAMES = (*PATTERN_CLAMPS, "ablate")
_ABLATE = re.compile(r"^L([12])(?:H(\d+))?$", re.IGNORECASE)


def _heads_text(heads) -> str:
    return "" if heads == ALL else "@" + ".".join(str(h) for h in heads)


@dataclass(frozen=True)
class StandardClamp:
    """What to clamp. ``None`` leaves a part alone; heads are a tuple or :data:`ALL`.

    Attributes:
        previous_token: layer-1 heads given the previous-token pattern.
        match: layer-2 heads whose query row is the ideal match.
        match_strength: ``s``, the weight on the correct label.
        copy: layer-2 heads whose query attention on the labels gives the logits.
        ablate: ``((layer, head), …)`` with layer 1 or 2 and head a number or :data:`ALL`.
        from_step: the first training step at which the clamp acts.
    """

    previous_token: tuple[int, ...] | str | None = None
    match: tuple[int, ...] | str | None = None
    match_strength: float = 1.0
    copy: tuple[int, ...] | str | None = None
    ablate: tuple[tuple[int, int | str], ...] = ()
    from_step: int = 0

    def __post_init__(self):
        check("match_strength", self.match_strength)
        check("clamp_from", self.from_step)

    @classmethod
    def parse(cls, spec: str, from_step: int = 0) -> StandardClamp:
        """Parse ``"match+copy"``, ``"previous_token@0.1"``, ``"match=0.8"``, ``"ablate=L2H3"``, ``"none"``.

        ``ValueError`` on an unknown name, a bad head list or a bad value.
        """
        fields: dict = {}
        for part in (p.strip() for p in spec.split("+")):
            if part in ("", "none"):
                continue
            head, _, value = part.partition("=")
            name, _, heads_text = head.partition("@")
            name = name.strip()
            if name not in NAMES:
                raise ValueError(
                    f"unknown clamp {name!r}; allowed: {', '.join(PATTERN_CLAMPS)}, ablate=L<layer>H<head>"
                )
            if name == "ablate":
                match = _ABLATE.match(value.strip())
                if match is None or heads_text:
                    raise ValueError(f"write an ablation as ablate=L2H3 or ablate=L1, got {part!r}")
                layer, h = int(match.group(1)), match.group(2)
                fields.setdefault("ablate", []).append((layer, ALL if h is None else int(h)))
                continue
            if name in fields:
                raise ValueError(f"clamp {name!r} named twice in {spec!r}")
            if heads_text:
                try:
                    fields[name] = tuple(sorted({int(h) for h in heads_text.split(".")}))
                except ValueError:
                    raise ValueError(f"heads in {part!r} must be integers joined by '.'") from None
            else:
                fields[name] = ALL
            if value:
                if name != "match":
                    raise ValueError(f"only match takes a value (its strength s), got {part!r}")
                try:
                    fields["match_strength"] = float(value)
                except ValueError:
                    raise ValueError(f"match strength in {part!r} is not a number") from None
        if "ablate" in fields:
            fields["ablate"] = tuple(fields["ablate"])
        return cls(**fields, from_step=int(from_step))

    @property
    def empty(self) -> bool:
        return self.previous_token is None and self.match is None and self.copy is None and not self.ablate

    def patterns(self) -> tuple[str, ...]:
        """The ODE pattern clamps this one names (``ablate`` has no ODE counterpart)."""
        return tuple(n for n in PATTERN_CLAMPS if getattr(self, n) is not None)

    def label(self) -> str:
        """``"match+copy"``, ``"match@3=0.8"``, ``"ablate=L2H1"``, ``"none"``; ``(step>=S)`` when late."""
        parts = []
        for name in PATTERN_CLAMPS:
            heads = getattr(self, name)
            if heads is not None:
                value = f"={self.match_strength:g}" if name == "match" and self.match_strength != 1 else ""
                parts.append(name + _heads_text(heads) + value)
        for layer, h in self.ablate:
            parts.append(f"ablate=L{layer}" + ("" if h == ALL else f"H{h}"))
        text = "+".join(parts) or "none"
        return text if self.from_step == 0 or self.empty else f"{text} (step>={self.from_step})"

    def arrays(self, n_heads: int) -> ClampArrays:
        """The clamp as arrays for the forward pass (one compiled program serves every clamp)."""

        def mask(heads):
            out = np.zeros(n_heads, bool)
            if heads is None:
                return out
            if heads == ALL:
                out[:] = True
                return out
            for h in heads:
                if not 0 <= h < n_heads:
                    raise ValueError(f"clamp head {h} out of range: the model has {n_heads} heads per layer")
                out[h] = True
            return out

        ablate = np.zeros((2, n_heads), bool)
        for layer, h in self.ablate:
            ablate[layer - 1] |= mask(ALL if h == ALL else (h,))
        return ClampArrays(
            previous_token=jnp.asarray(mask(self.previous_token)),
            match=jnp.asarray(mask(self.match)),
            match_strength=jnp.asarray(self.match_strength, jnp.float32),
            copy=jnp.asarray(mask(self.copy)),
            ablate=jnp.asarray(ablate),
            from_step=jnp.asarray(self.from_step, jnp.int32),
        )


class ClampArrays(NamedTuple):
    """Boolean head masks ``(H,)`` (``ablate``: ``(2, H)``), the strength and the start step."""

    previous_token: jnp.ndarray
    match: jnp.ndarray
    match_strength: jnp.ndarray
    copy: jnp.ndarray
    ablate: jnp.ndarray
    from_step: jnp.ndarray

    def at_step(self, step) -> ClampArrays:
        """The masks in force at ``step`` (all off before ``from_step``)."""
        on = jnp.asarray(step) >= self.from_step
        return self._replace(
            previous_token=self.previous_token & on,
            match=self.match & on,
            copy=self.copy & on,
            ablate=self.ablate & on,
        )


def no_clamp(n_heads: int) -> ClampArrays:
    return StandardClamp().arrays(n_heads)


def ablation(n_heads: int, layer1=(), layer2=()) -> ClampArrays:
    """Only value ablations: heads ``layer1`` of layer 1 and ``layer2`` of layer 2 removed."""
    pairs = tuple((1, h) for h in layer1) + tuple((2, h) for h in layer2)
    return StandardClamp(ablate=pairs).arrays(n_heads)
