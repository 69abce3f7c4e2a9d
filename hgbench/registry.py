"""Name -> class registries for built-in tasks and methods, extended by entry points.

Third parties add a method or task without forking by declaring an entry point in the
``hgbench.methods`` or ``hgbench.tasks`` group that points to the class (or factory); see
``docs/method-authors.md`` and ``examples/hgbench-example-plugin``. Imports are strict: a
built-in module or a plugin that fails to import is an ``ImportError`` naming it, never a
silently missing entry.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """An unknown task, method or suite name; the message lists the valid ones."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])


def _load(ep: EntryPoint, kind: str) -> Any:
    """The object an entry point names; an ImportError naming the plugin if it fails."""
    try:
        return ep.load()
    except (ImportError, AttributeError) as exc:
        dist = f" (distribution {ep.dist.name!r})" if getattr(ep, "dist", None) else ""
        raise ImportError(
            f"{kind} plugin {ep.name!r} = {ep.value!r}{dist} failed to load: {exc}"
        ) from exc


class Registry(Generic[T]):
    """Built-in entries registered with :meth:`register`, plus an entry-point group."""

    def __init__(self, kind: str, group: str, builtin_modules: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.group = group
        self.builtin_modules = builtin_modules
        self._builtin: dict[str, T] = {}
        self._plugins: dict[str, T] | None = None
        self._imported = False

    def _import_builtins(self) -> None:
        """Import the modules whose decorators register the built-in entries (once)."""
        if self._imported:
            return
        for name in self.builtin_modules:
            try:
                importlib.import_module(name)
            except ImportError as exc:
                raise ImportError(
                    f"built-in {self.kind} module {name!r} failed to import: {exc}", name=name
                ) from exc
        self._imported = True

    def register(self, key: str) -> Callable[[T], T]:
        def add(obj: T) -> T:
            if key in self._builtin:
                raise ValueError(f"{self.kind} {key!r} is registered twice")
            self._builtin[key] = obj
            return obj

        return add

    def _load_plugins(self) -> dict[str, T]:
        self._import_builtins()
        if self._plugins is None:
            self._plugins = {}
            for ep in entry_points(group=self.group):
                if ep.name not in self._builtin:
                    self._plugins[ep.name] = _load(ep, self.kind)
        return self._plugins

    def names(self) -> list[str]:
        plugins = self._load_plugins()  # imports the built-in modules first
        return sorted({*self._builtin, *plugins})

    def builtin_names(self) -> list[str]:
        """The keys registered by hgbench's own modules (entry-point plugins excluded)."""
        self._import_builtins()
        return sorted(self._builtin)

    def get(self, key: str) -> T:
        self._import_builtins()
        if key in self._builtin:
            return self._builtin[key]
        plugins = self._load_plugins()
        if key in plugins:
            return plugins[key]
        close = difflib.get_close_matches(key, self.names(), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownNameError(
            f"unknown {self.kind} {key!r}.{hint} Valid {self.kind}s: {', '.join(self.names())}"
        )

    def __contains__(self, key: str) -> bool:
        return key in self.names()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
