"""Factory fixtures that stop, at teardown, everything a test started through them."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Protocol, TypeVar


class Stoppable(Protocol):
    def stop(self) -> object: ...


T = TypeVar("T", bound=Stoppable)


def stop_all_after(start: Callable[..., T]) -> Iterator[Callable[..., T]]:
    """In a fixture, `yield from stop_all_after(start)`: tests get `start`; whatever it returned is stopped after."""
    started: list[T] = []

    @functools.wraps(start)
    def tracked(*args, **kwargs) -> T:
        item = start(*args, **kwargs)
        started.append(item)
        return item

    yield tracked
    for item in started:
        item.stop()
