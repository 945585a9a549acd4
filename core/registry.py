"""A registry of backend classes by name, imported lazily (a production backend's client libraries are
only imported where that backend is used)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class BackendRegistry(Generic[T]):
    """Names -> dotted class paths; ``get`` returns one shared instance per name."""

    def __init__(self, kind: str, paths: dict[str, str], unknown: Callable[[str], Exception]) -> None:
        self.kind = kind
        self._paths = dict(paths)
        self._instances: dict[str, T] = {}
        self._unknown = unknown

    def register(self, name: str, dotted_path: str) -> None:
        """Register (or replace) the class behind ``name``."""
        self._paths[name] = dotted_path
        self._instances.pop(name, None)

    def get(self, name: str) -> T:
        """Return the backend registered as ``name``. Raises the registry's error for an unknown name."""
        if name not in self._instances:
            try:
                module_name, class_name = self._paths[name].rsplit(".", 1)
            except KeyError:
                raise self._unknown(f"unknown {self.kind} {name!r}") from None
            self._instances[name] = getattr(importlib.import_module(module_name), class_name)()
        return self._instances[name]
