"""Standard transformers on the package's task (Singh et al. 2024; Musat et al. Figs. 2–3).

A standard two-layer attention-only transformer (``D = 64``, 8 heads per layer, RoPE or
learned positions, optional pre-LayerNorm, no MLP) trained with optax on the in-context
retrieval task of :mod:`induction_ode.task`, with activation clamps in the ODE's vocabulary
(``previous_token``, ``match``, ``copy``, ``ablate``), per-head metrics over training, head
ablations, the weight-structure analysis and Musat et al.'s progress measures, over several
seeds trained together (vmapped) with 95 % intervals. Everything here is float32. The public API is
loaded on first use; see docs/standard.md.
"""

from .._lazy import lazy_exports

_EXPORTS = {
    "Task": "task",
    "singh_preset": "task",
    "sample": "task",
    "ModelConfig": "model",
    "init_params": "model",
    "forward": "model",
    "StandardClamp": "clamps",
    "induction_strength": "metrics",
    "previous_token_score": "metrics",
    "ablation_table": "metrics",
    "TrainConfig": "training",
    "TrainRun": "training",
    "train": "training",
    "train_seeds": "training",
    "seed_list": "training",
    "ClampStudy": "training",
    "clamp_study": "training",
    "structure": "weights",
    "structure_score": "weights",
    "Progress": "progress",
    "progress_measures": "progress",
    "seed_analysis": "seeds",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
