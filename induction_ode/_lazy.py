"""Lazy re-exports for a package's ``__init__`` (PEP 562), shared by every subpackage.

A package lists ``{public name: submodule}``; the submodule is imported on first access, so
``import induction_ode`` (and the command line's ``--help``) does not wait for JAX.
"""

from __future__ import annotations

import importlib


def lazy_exports(package: str, namespace: dict, exports: dict[str, str]):
    """``(__getattr__, __dir__)`` for the package ``package`` whose globals are ``namespace``."""

    def __getattr__(name):
        if name in exports:
            value = getattr(importlib.import_module(f".{exports[name]}", package), name)
            namespace[name] = value  # later lookups skip this hook
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(list(namespace) + list(exports))

    return __getattr__, __dir__
