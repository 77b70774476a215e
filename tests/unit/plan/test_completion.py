"""A target's plan checked against its pins' metadata and completed (or not), through
``plan_all`` with the index, the metadata and uv faked."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from orchestrator.model import Pin, Plan, ProjectPage, ReleaseFile
from orchestrator.plan.completion import ClosureCheck, Requires
from orchestrator.plan.inputs import PlanInputs, plan_all
from orchestrator.targets import Target

BOOKWORM = Target.parse("cp311-manylinux_2_36_aarch64").with_full_version("3.11.2")
CP312 = Target.parse("cp312-manylinux_2_36_aarch64")
FILES = {
    "redis": ["redis-5.2.1-py3-none-any.whl"],
    "async-timeout": [
        "async_timeout-4.0.2-py3-none-any.whl",
        "async_timeout-5.0.1-py3-none-any.whl",
    ],
}
REQUIRES = {
    "redis-5.2.1-py3-none-any.whl": ('async-timeout>=4.0.3; python_full_version < "3.11.3"',),
}


def rf(filename: str) -> ReleaseFile:
    return ReleaseFile(
        filename=filename,
        url=f"https://files.example/{filename}",
        sha256=hashlib.sha256(filename.encode()).hexdigest(),
    )


def fetch_projects(
    names: Iterable[str], /, *, versions: Mapping[NormalizedName, Collection[Version]] | None = None
) -> Mapping[NormalizedName, ProjectPage | None]:
    return {
        canonicalize_name(n): ProjectPage(
            name=canonicalize_name(n), files=tuple(rf(f) for f in FILES[n])
        )
        for n in names
    }


def fetch_requires(files: Sequence[ReleaseFile]) -> Mapping[str, Requires | str]:
    return {f.url: Requires(requires_dist=REQUIRES.get(f.filename, ())) for f in files}


def pin(name: str, version: str) -> Pin:
    return Pin(name=canonicalize_name(name), version=Version(version))


def plan(check: ClosureCheck, *pins: Pin, target: Target = BOOKWORM) -> Plan:
    return plan_all(
        PlanInputs(pins={target: pins}),
        fetch_projects=fetch_projects,
        system_packages=lambda _n, _t: (),
        closure=check,
    )


def rows(result: Plan) -> list[tuple[str, str, str]]:
    return [(p.name, p.version, p.action) for p in result.targets[0].packages]


NEVER = ClosureCheck(
    fetch_requires=fetch_requires,
    resolve_missing=None,
    fix_command=lambda t: f"uv pip compile --python-version {t.python_full_version}",
)


def test_resolve_never_makes_the_missing_dependency_an_error_row_with_the_fix() -> None:
    result = plan(NEVER, pin("redis", "5.2.1"))
    assert rows(result) == [("async-timeout", "", "error"), ("redis", "5.2.1", "download")]
    assert result.targets[0].packages[0].reason == (
        "async-timeout>=4.0.3 is not pinned, yet needed by redis 5.2.1 on this target "
        "(python_full_version 3.11.2 < 3.11.3); `resolve: never` adds nothing: pin it for "
        "this target (`uv pip compile --python-version 3.11.2`) or set `resolve: auto`"
    )


def test_the_same_pins_need_nothing_on_cp312() -> None:
    assert rows(plan(NEVER, pin("redis", "5.2.1"), target=CP312)) == [
        ("redis", "5.2.1", "download")
    ]


def test_resolve_auto_adds_what_uv_pins_under_the_constraints_and_says_why() -> None:
    asked: list[tuple[Target, list[str], list[str]]] = []

    def resolve(target: Target, wanted: Sequence[str], pins: Sequence[Pin]) -> tuple[Pin, ...]:
        asked.append((target, list(wanted), [f"{p.name}=={p.version}" for p in pins]))
        return (pin("async-timeout", "5.0.1"), pin("redis", "5.2.1"))

    check = ClosureCheck(fetch_requires=fetch_requires, resolve_missing=resolve)
    result = plan(check, pin("redis", "5.2.1"))

    assert asked == [(BOOKWORM, ["async-timeout>=4.0.3"], ["redis==5.2.1"])]
    assert rows(result) == [("async-timeout", "5.0.1", "download"), ("redis", "5.2.1", "download")]
    added = result.targets[0].packages[0]
    assert added.file == "async_timeout-5.0.1-py3-none-any.whl"
    assert added.reason == (
        "added: needed by redis 5.2.1 on this target (python_full_version 3.11.2 < 3.11.3)"
    )
    assert result.warnings == (
        "cp311-manylinux_2_36_aarch64: added async-timeout 5.0.1: needed by redis 5.2.1 on "
        "this target (python_full_version 3.11.2 < 3.11.3)",
    )


def test_a_pin_outside_a_dependents_specifier_is_an_error_row_naming_both() -> None:
    result = plan(NEVER, pin("redis", "5.2.1"), pin("async-timeout", "4.0.2"))
    assert rows(result) == [("async-timeout", "4.0.2", "error"), ("redis", "5.2.1", "download")]
    assert result.targets[0].packages[0].reason == (
        "redis 5.2.1 requires async-timeout>=4.0.3, but async-timeout 4.0.2 is pinned: pin a "
        "async-timeout that redis 5.2.1 accepts, or another redis"
    )


def test_a_lock_missing_an_edge_is_reported_stale() -> None:
    check = ClosureCheck(fetch_requires=fetch_requires, resolve_missing=None, source="uv.lock")
    result = plan(check, pin("redis", "5.2.1"))
    assert result.targets[0].packages[0].reason == (
        "async-timeout>=4.0.3 is not in uv.lock for this target, yet needed by redis 5.2.1 "
        "on this target (python_full_version 3.11.2 < 3.11.3): the lock is stale; run "
        "`uv lock` and plan again"
    )


def test_metadata_that_cannot_be_read_is_an_error_row() -> None:
    def unreadable(files: Sequence[ReleaseFile]) -> Mapping[str, Requires | str]:
        return {f.url: "redis-5.2.1-py3-none-any.whl: HTTP 404 for the wheel" for f in files}

    check = ClosureCheck(fetch_requires=unreadable, resolve_missing=None)
    result = plan(check, pin("redis", "5.2.1"))
    assert rows(result) == [("redis", "5.2.1", "error")]
    assert result.targets[0].packages[0].reason == (
        "its metadata could not be read: redis-5.2.1-py3-none-any.whl: HTTP 404 for the wheel"
    )
