"""Topological levels of builds, cycles named, and who depends on a failed build."""

from __future__ import annotations

import pytest

from orchestrator.build.graph import BuildCycle, find_cycle, levels


def test_independent_builds_form_one_level() -> None:
    assert levels({"b": set(), "a": set(), "c": set()}) == (("a", "b", "c"),)


def test_a_build_requirement_comes_a_level_before_its_dependents() -> None:
    needs = {"app": {"cffi"}, "cffi": {"pycparser-built"}, "pycparser-built": set(), "x": set()}
    assert levels(needs) == (("pycparser-built", "x"), ("cffi",), ("app",))


def test_a_diamond_puts_each_node_once_at_its_earliest_level() -> None:
    needs = {"top": {"left", "right"}, "left": {"base"}, "right": {"base"}, "base": set()}
    assert levels(needs) == (("base",), ("left", "right"), ("top",))


def test_needs_outside_the_graph_count_as_met() -> None:
    assert levels({"app": {"built-earlier"}}) == (("app",),)


def test_levels_sort_by_the_given_name() -> None:
    needs: dict[tuple[str, str], set[tuple[str, str]]] = {("b", "1"): set(), ("a", "2"): set()}
    assert levels(needs, name=lambda k: k[0]) == ((("a", "2"), ("b", "1")),)


def test_a_cycle_is_reported_by_name() -> None:
    with pytest.raises(BuildCycle) as caught:
        levels({"a": {"b"}, "b": {"a"}, "c": set()})
    assert str(caught.value) in (
        "build requirement cycle: a -> b -> a",
        "build requirement cycle: b -> a -> b",
    )
    assert caught.value.cycle[0] == caught.value.cycle[-1]


def test_a_cycle_reports_its_names_not_its_keys() -> None:
    needs = {("a", "1.0"): {("b", "2.0")}, ("b", "2.0"): {("a", "1.0")}}
    with pytest.raises(BuildCycle) as caught:
        levels(needs, name=lambda k: k[0])
    assert caught.value.names in (("a", "b", "a"), ("b", "a", "b"))


def test_a_build_that_needs_itself_is_a_cycle() -> None:
    with pytest.raises(BuildCycle, match=r"^build requirement cycle: a -> a$"):
        levels({"a": {"a"}})


def test_a_cycle_below_buildable_nodes_is_found() -> None:
    needs = {"ok": set(), "top": {"x"}, "x": {"y"}, "y": {"z"}, "z": {"x"}}
    with pytest.raises(BuildCycle) as caught:
        levels(needs)
    assert set(caught.value.cycle) == {"x", "y", "z"}
    assert len(caught.value.cycle) == 4


def test_find_cycle_without_one() -> None:
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_find_cycle_returns_a_closed_path() -> None:
    cycle = find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}})
    assert cycle is not None
    assert cycle[0] == cycle[-1]
    assert sorted(cycle[:-1]) == ["a", "b", "c"]
