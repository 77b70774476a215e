"""The order of builds: a build requirement is built before the packages that need it.

Pure: nodes and what each needs in, topological levels out. A level holds nodes whose
needs all lie in earlier levels, so the builder can run a level as one buildx run
(BuildKit builds its packages in parallel) and hand its wheels to the next one.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Iterable, Mapping
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


class BuildCycle(Exception):
    """Builds that need each other: none of them can be built first."""

    def __init__(self, cycle: tuple[object, ...], names: tuple[str, ...]) -> None:
        super().__init__(describe_cycle(names))
        #: The nodes of the cycle, the first one repeated at the end.
        self.cycle = cycle
        self.names = names


def describe_cycle(names: Iterable[str]) -> str:
    return "build requirement cycle: " + " -> ".join(names)


def levels(
    needs: Mapping[K, Collection[K]], name: Callable[[K], str] = str
) -> tuple[tuple[K, ...], ...]:
    """Kahn's algorithm, one level at a time; each level sorted by ``name``.

    Needs that are not nodes of ``needs`` count as met (built already, or not a build).
    Raises ``BuildCycle`` naming one cycle (``a -> b -> a``) when some nodes are left.
    """
    left = {node: {n for n in wanted if n in needs and n != node} for node, wanted in needs.items()}
    selfish = sorted((node for node, wanted in needs.items() if node in wanted), key=name)
    if selfish:
        raise BuildCycle((selfish[0], selfish[0]), (name(selfish[0]), name(selfish[0])))
    order: list[tuple[K, ...]] = []
    while left:
        ready = tuple(sorted((node for node, wanted in left.items() if not wanted), key=name))
        if not ready:
            cycle = find_cycle(left)
            assert cycle is not None, "nodes are left, so some of them form a cycle"
            raise BuildCycle(cycle, tuple(name(node) for node in cycle))
        order.append(ready)
        for node in ready:
            del left[node]
        for wanted in left.values():
            wanted.difference_update(ready)
    return tuple(order)


def find_cycle(needs: Mapping[K, Collection[K]]) -> tuple[K, ...] | None:
    """One cycle as a path that returns to its start (``a, b, a``), or ``None``."""
    done: set[K] = set()
    for start in needs:
        if start not in done:
            found = _cycle_from(needs, start, done)
            if found is not None:
                return found
    return None


def _cycle_from(needs: Mapping[K, Collection[K]], start: K, done: set[K]) -> tuple[K, ...] | None:
    """Depth first from ``start`` (iteratively: build graphs are small, stacks are not)."""
    path: list[K] = [start]
    todo: list[list[K]] = [_needed(needs, start)]
    while path:
        if not todo[-1]:
            done.add(path.pop())
            todo.pop()
            continue
        nxt = todo[-1].pop()
        if nxt in path:
            return (*path[path.index(nxt) :], nxt)
        if nxt not in done:
            path.append(nxt)
            todo.append(_needed(needs, nxt))
    return None


def _needed(needs: Mapping[K, Collection[K]], node: K) -> list[K]:
    return [n for n in needs.get(node, ()) if n in needs]
