"""Random draws keyed by global sample index, so every process and accumulation round draws what one
process would (GUIDE §4 "Randomness").

A `SampleDraws` wraps one of the trainer's saved generators. Outside a `rows` block it behaves as that
generator: a draw for n rows takes n rows from it (models and penalties called by hand work as before).
The trainer opens `with draws.rows(seed, global_batch, start, count)` around each micro-batch, `seed`
drawn once per phase from the saved stream (`phase_seed`). Inside, every draw comes from a fresh
generator seeded with `seed`, is made for the whole global batch and sliced to rows
[start, start + count): global sample j gets the same numbers whatever the number of processes or
accumulation rounds. A tensor of k·count rows (D scoring reals and fakes in one pass) is k blocks of
the global batch. Scalar draws (the style-mixing decision) are shared by all rows (`shared_generator`).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Iterator, Union

import torch

Tensor = torch.Tensor
# draw(leading_shape, generator) -> a tensor whose first dims are `leading_shape`
Draw = Callable[[tuple, Union[torch.Generator, None]], Tensor]


@dataclass(frozen=True)
class Rows:
    """Where this process's micro-batch sits in the global batch."""

    global_batch: int
    start: int
    count: int


class SampleDraws:
    """A saved generator plus the current micro-batch's place in the global batch (see module doc)."""

    def __init__(self, generator: torch.Generator) -> None:
        self.base = generator
        self._rows: Rows | None = None
        self._generator: torch.Generator | None = None

    @property
    def generator(self) -> torch.Generator:
        """The generator draws come from now: the micro-batch's inside a `rows` block, else the saved one."""
        return self._generator if self._rows is not None else self.base

    def phase_seed(self) -> int:
        """One seed from the saved stream; every micro-batch of a phase reuses it."""
        return int(torch.randint(0, 2 ** 62, [], generator=self.base))

    @contextlib.contextmanager
    def rows(self, seed: int, global_batch: int, start: int, count: int) -> Iterator[None]:
        """Draw for the global batch and keep rows [start, start + count) until the block ends."""
        if not 0 <= start < start + count <= global_batch:
            raise ValueError(f"rows [{start}, {start + count}) are not inside a global batch of {global_batch}")
        saved = self._rows, self._generator
        self._rows, self._generator = Rows(global_batch, start, count), torch.Generator().manual_seed(seed)
        try:
            yield
        finally:
            self._rows, self._generator = saved

    def per_sample(self, n: int, draw: Draw) -> Tensor:
        """n rows of `draw`: inside a `rows` block, this micro-batch's rows of the global draw."""
        rows = self._rows
        if rows is None:
            return draw((n,), self.base)
        if n % rows.count:
            raise ValueError(f"a draw for {n} rows in a micro-batch of {rows.count}: not whole blocks of the batch")
        full = draw((n // rows.count, rows.global_batch), self._generator)  # [k, B, ...]
        mine = full[:, rows.start:rows.start + rows.count]  # [k, count, ...]
        return mine.reshape(n, *mine.shape[2:])


Source = Union[torch.Generator, SampleDraws, None]


def per_sample(source: Source, n: int, draw: Draw) -> Tensor:
    """n rows of `draw(leading_shape, generator)` from a generator, None (torch's global RNG) or SampleDraws."""
    if isinstance(source, SampleDraws):
        return source.per_sample(n, draw)
    return draw((n,), source)


def shared_generator(source: Source) -> torch.Generator | None:
    """The generator for a draw shared by the whole batch (a scalar)."""
    return source.generator if isinstance(source, SampleDraws) else source
