"""Models by name: ``@register("wgan-gp")`` on a :class:`~mrisynth.zoo.base.ZooModel` subclass, then
``build("wgan-gp", **cfg)`` and ``names()``.

Every module in ``mrisynth/zoo/models/`` is imported on first use, so adding a model is adding a file
there with a ``@register`` class; nothing else to edit.
"""

from __future__ import annotations

import importlib
import pkgutil

_REGISTRY: dict[str, type] = {}
_loaded = False


def register(name: str):
    """Class decorator: make the model buildable as ``build(name, **cfg)``."""

    def deco(cls: type) -> type:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"model name {name!r} is already registered by {_REGISTRY[name].__qualname__}")
        _REGISTRY[name] = cls
        cls.registry_name = name
        return cls

    return deco


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    import mrisynth.zoo.models as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"{pkg.__name__}.{info.name}")
    _loaded = True


def names() -> list[str]:
    """Registered model names, sorted."""
    _load_all()
    return sorted(_REGISTRY)


def get(name: str) -> type:
    _load_all()
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; registered: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def build(name: str, **cfg):
    """Instantiate model ``name`` with keyword config ``cfg`` (unknown keys are an error)."""
    return get(name)(**cfg)
