"""Explicit registries of small builder functions; unknown names list the valid ones."""
from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

from gankit.errors import GankitError

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> object table with a decorator to fill it and a `get` that explains misses."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: `@MODELS.register("dcgan")`."""

        def add(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            return obj

        return add

    def get(self, name: str) -> T:
        """The object registered as `name`, or a GankitError listing the valid names."""
        if name not in self._items:
            raise GankitError(f"unknown {self.kind} {name!r}; valid: {', '.join(sorted(self._items))}")
        return self._items[name]

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


MODELS: Registry = Registry("model")
LOSSES: Registry = Registry("loss")
REGULARIZERS: Registry = Registry("regularizer")
DATASETS: Registry = Registry("dataset")
METRICS: Registry = Registry("metric")
