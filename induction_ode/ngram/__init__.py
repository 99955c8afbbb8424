"""The n-gram model of Chen et al. 2024: generalised induction heads on in-context Markov chains.

A two-layer transformer learns, in context, an n-gram Markov chain whose kernel is new in
every sequence; the theory predicts three phases of training (parent selection by the
feed-forward layer, concentration of the layer-1 heads, logarithmic growth of the layer-2
scale). The model is stated in ``docs/ngram.md``. The public API is loaded on first use, so
that ``induction-ode --help`` does not wait for JAX; loading it enables float64.
"""

from .._lazy import lazy_exports

_EXPORTS = {
    "NGramTask": "sampler",
    "NGramSample": "sampler",
    "sample": "sampler",
    "sample_kernels": "sampler",
    "sample_chains": "sampler",
    "fixed_sample": "sampler",
    "transition_counts": "sampler",
    "Architecture": "model",
    "ReducedParams": "model",
    "init_params": "model",
    "prepare": "model",
    "reduced_forward": "model",
    "reduced_loss": "model",
    "feature_weights": "model",
    "head_attention": "model",
    "Trajectory": "dynamics",
    "gradient_descent": "dynamics",
    "gradient_flow": "dynamics",
    "LogFit": "phases",
    "selection": "phases",
    "fit_log_growth": "phases",
    "Criterion": "criterion",
    "chi2_mutual_information": "criterion",
    "FullParams": "full",
    "init_full_params": "full",
    "full_forward": "full",
    "full_loss": "full",
    "Settings": "experiment",
    "PRESETS": "experiment",
    "preset": "experiment",
    "measure": "experiment",
    "run": "experiment",
    "train_full": "experiment",
    "sweep": "sweeps",
    "summarise": "sweeps",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
