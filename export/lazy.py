"""Public names that load when first used: a package's `__getattr__` and `__dir__`, so that
importing one light part (settings, file formats) does not load the networks and PyTorch."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module


def lazy_names(package: str, public: dict[str, str]) -> tuple[Callable, Callable]:
    """(__getattr__, __dir__) for `package`, whose `public` maps each name to its module."""

    def __getattr__(name: str):
        if name not in public:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(public[name]), name)

    def __dir__() -> list[str]:
        return sorted(public)

    return __getattr__, __dir__
