"""planning: inputs -> pins per target -> one index fetch -> a plan. Index and uv are fakes."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from orchestrator.config import Config, TargetConfig
from orchestrator.errors import RequirementsError, ResolveError
from orchestrator.model import Location, Pin, ProjectPage, ReleaseFile
from orchestrator.plan import inputs as plan_inputs
from orchestrator.plan import requirements as reqs
from orchestrator.plan.modes import ModeChoice
from orchestrator.plan.sources import Prepared
from orchestrator.targets import Target

ROOT = Path(__file__).resolve().parents[3]
DEMO_LOCK = ROOT / "tests/data/uvlock/demo/uv.lock"
MUSL_ARM = Target.parse("cp312-musllinux_1_2_aarch64")
GLIBC_ARM = Target.parse("cp312-manylinux_2_36_aarch64")
GLIBC_X86 = Target.parse("cp312-manylinux_2_36_x86_64")
TARGETS = tuple(TargetConfig.default(t) for t in (MUSL_ARM, GLIBC_X86))


def write(tmp_path: Path, text: str, name: str = "requirements.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def rf(filename: str) -> ReleaseFile:
    return ReleaseFile(
        filename=filename,
        url=f"https://files.example/{filename}",
        sha256=hashlib.sha256(filename.encode()).hexdigest(),
    )


class FakeIndex:
    """``fetch_projects``: pages by name (every file: ``versions`` is only recorded), and a
    record of every call."""

    def __init__(self, pages: Mapping[str, Iterable[str]]) -> None:
        self.pages = {
            canonicalize_name(n): ProjectPage(
                name=canonicalize_name(n), files=tuple(rf(f) for f in files)
            )
            for n, files in pages.items()
        }
        self.calls: list[list[str]] = []
        self.versions: list[dict[str, set[str]] | None] = []

    def __call__(
        self,
        names: Iterable[str],
        /,
        *,
        versions: Mapping[NormalizedName, Collection[Version]] | None = None,
    ) -> dict[NormalizedName, ProjectPage | None]:
        wanted = list(names)
        self.calls.append(wanted)
        self.versions.append(
            None if versions is None else {n: {str(v) for v in vs} for n, vs in versions.items()}
        )
        return {canonicalize_name(n): self.pages.get(canonicalize_name(n)) for n in wanted}


class FakeCompile:
    """``compile_for``: what uv would print per target, and a record of every call."""

    def __init__(self, outputs: Mapping[str, str]) -> None:
        self.outputs = outputs
        self.calls: list[tuple[Path, str]] = []

    def __call__(self, path: Path, target: Target) -> str:
        self.calls.append((path, target.id))
        return self.outputs[target.id]


def never_compile(path: Path, target: Target) -> str:
    raise AssertionError(f"uv was asked to resolve {path} for {target.id}")


def no_system_packages(name: NormalizedName, target: Target) -> tuple[str, ...]:
    return ()


def pins_of(inputs: plan_inputs.PlanInputs, target: Target) -> dict[str, str]:
    return {p.name: str(p.version) for p in inputs.pins[target]}


# --- which file -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "is_lock"),
    [
        ("uv.lock", True),
        ("app.lock", True),
        ("requirements.txt", False),
        ("requirements.in", False),
        ("uv.lock.txt", False),
    ],
)
def test_is_uv_lock(name: str, is_lock: bool) -> None:
    assert plan_inputs.is_uv_lock(Path("some/dir") / name) is is_lock


def test_requirements_path_prefers_the_override(tmp_path: Path) -> None:
    mine = write(tmp_path, "", "mine.txt")
    config = Config(path=None, requirements=tmp_path / "other.txt", output=tmp_path)

    assert plan_inputs.requirements_path(config, mine) == mine


def test_requirements_path_from_the_config(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    config = Config(path=None, requirements=path, output=tmp_path)

    assert plan_inputs.requirements_path(config, None) == path


def test_no_requirements_at_all() -> None:
    config = Config(path=None, requirements=None, output=Path("wheelhouse"))

    with pytest.raises(RequirementsError) as caught:
        plan_inputs.requirements_path(config, None)

    assert caught.value.message == "no requirements given"
    assert caught.value.hint == (
        "set `requirements:` in wheelhouse.yaml or pass --requirements requirements.txt"
    )


def test_requirements_file_not_found(tmp_path: Path) -> None:
    config = Config(path=None, requirements=None, output=tmp_path)
    missing = tmp_path / "nope.txt"

    with pytest.raises(RequirementsError) as caught:
        plan_inputs.requirements_path(config, missing)

    assert caught.value.message == f"requirements file not found: {missing}"
    assert caught.value.hint == (
        "check the path in wheelhouse.yaml `requirements:` or pass --requirements"
    )


# --- pins from requirements -------------------------------------------------------


def test_pinned_input_is_not_resolved_and_markers_are_per_target(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "cffi==1.17.1\n"
        'RPi.GPIO==0.7.1 ; platform_machine == "aarch64"\n'
        "pywin32==308 ; sys_platform == 'win32'\n",
    )

    inputs = plan_inputs.pins_from_requirements(
        plan_inputs.read_requirements(path),
        TARGETS,
        force_build=frozenset(),
        resolve="auto",
        compile_for=never_compile,
    )

    assert list(inputs.pins) == [MUSL_ARM, GLIBC_X86]
    assert pins_of(inputs, MUSL_ARM) == {"cffi": "1.17.1", "rpi-gpio": "0.7.1"}
    assert pins_of(inputs, GLIBC_X86) == {"cffi": "1.17.1"}
    assert inputs.index_url is None
    assert inputs.warnings == ()


def test_force_build_marks_the_pins(tmp_path: Path) -> None:
    path = write(tmp_path, "cffi==1.17.1\ndocopt==0.6.2\n")

    inputs = plan_inputs.pins_from_requirements(
        plan_inputs.read_requirements(path),
        TARGETS[:1],
        force_build=frozenset({"cffi"}),
        resolve="auto",
        compile_for=never_compile,
    )

    assert {p.name: p.force_build for p in inputs.pins[MUSL_ARM]} == {
        "cffi": True,
        "docopt": False,
    }


def test_index_options_of_the_file_are_passed_on(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "--index-url https://mirror.example/simple\n"
        "--extra-index-url https://extra.example/simple\n"
        "cffi==1.17.1\n",
    )

    inputs = plan_inputs.pins_from_requirements(
        plan_inputs.read_requirements(path),
        TARGETS,
        force_build=frozenset(),
        resolve="auto",
        compile_for=never_compile,
    )

    assert inputs.index_url == "https://mirror.example/simple"
    assert inputs.extra_index_urls == ("https://extra.example/simple",)


def test_loose_input_is_resolved_by_uv_per_target(tmp_path: Path) -> None:
    path = write(tmp_path, "python-jose[cryptography]\ndocopt==0.6.2\n")
    uv = FakeCompile(
        {
            MUSL_ARM.id: "cffi==1.17.1\ncryptography==44.0.0\ndocopt==0.6.2\n",
            GLIBC_X86.id: "cryptography==44.0.0\ndocopt==0.6.2\n",
        }
    )

    inputs = plan_inputs.pins_from_requirements(
        plan_inputs.read_requirements(path),
        TARGETS,
        force_build=frozenset(),
        resolve="auto",
        compile_for=uv,
    )

    assert uv.calls == [(path, MUSL_ARM.id), (path, GLIBC_X86.id)]
    assert pins_of(inputs, MUSL_ARM) == {
        "cffi": "1.17.1",
        "cryptography": "44.0.0",
        "docopt": "0.6.2",
    }
    assert pins_of(inputs, GLIBC_X86) == {"cryptography": "44.0.0", "docopt": "0.6.2"}


def test_resolve_always_resolves_pinned_input_too(tmp_path: Path) -> None:
    path = write(tmp_path, "cffi==1.17.1\n")
    uv = FakeCompile({MUSL_ARM.id: "cffi==1.17.1\npycparser==2.22\n"})

    inputs = plan_inputs.pins_from_requirements(
        plan_inputs.read_requirements(path),
        TARGETS[:1],
        force_build=frozenset(),
        resolve="always",
        compile_for=uv,
    )

    assert uv.calls == [(path, MUSL_ARM.id)]
    assert pins_of(inputs, MUSL_ARM) == {"cffi": "1.17.1", "pycparser": "2.22"}


def test_resolve_never_with_a_loose_requirement_is_bad_input(tmp_path: Path) -> None:
    path = write(tmp_path, "cffi==1.17.1\n\nrequests>=2  # any\n")

    with pytest.raises(RequirementsError) as caught:
        plan_inputs.pins_from_requirements(
            plan_inputs.read_requirements(path),
            TARGETS,
            force_build=frozenset(),
            resolve="never",
            compile_for=never_compile,
        )

    assert caught.value.message == (
        f"{path}:3: requests>=2\n  not pinned with ==, and wheelhouse.yaml says `resolve: never`"
    )
    assert caught.value.hint == (
        "pin every requirement (e.g. `uv pip compile requirements.in -o requirements.txt`) "
        "or set `resolve: auto`"
    )


def test_warnings_name_the_target_once_each(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "docopt==0.6.2 --hash=sha256:" + "a" * 64 + "\n"
        "docopt==0.6.2 --hash=sha256:" + "b" * 64 + "\n",
    )

    inputs = plan_inputs.pins_from_requirements(
        plan_inputs.read_requirements(path),
        TARGETS,
        force_build=frozenset(),
        resolve="never",
        compile_for=never_compile,
    )

    assert len(inputs.warnings) == 2
    assert inputs.warnings[0].startswith(f"{MUSL_ARM.id}: docopt: ")
    assert inputs.warnings[1].startswith(f"{GLIBC_X86.id}: docopt: ")


# --- pins from uv.lock ------------------------------------------------------------


def test_lock_pins_only_what_each_target_installs() -> None:
    targets = tuple(TargetConfig.default(t) for t in (MUSL_ARM, GLIBC_X86))

    inputs = plan_inputs.pins_from_lock(DEMO_LOCK, targets, frozenset({"psutil"}))

    arm, x86 = pins_of(inputs, MUSL_ARM), pins_of(inputs, GLIBC_X86)
    assert "rpi-gpio" in arm
    assert "rpi-gpio" not in x86
    assert "pywin32" not in arm
    assert "pywin32" not in x86
    assert "demo" not in arm
    assert {"cryptography", "cffi", "bcrypt", "python-jose", "passlib"} <= set(x86)
    assert set(arm) - set(x86) == {"rpi-gpio"}
    assert all(p.files for p in inputs.pins[MUSL_ARM])
    assert {p.name for p in inputs.pins[MUSL_ARM] if p.force_build} == {"psutil"}


def test_lock_pins_need_no_index() -> None:
    inputs = plan_inputs.pins_from_lock(DEMO_LOCK, TARGETS, frozenset())

    def fetch(
        names: Iterable[str],
        /,
        *,
        versions: Mapping[NormalizedName, Collection[Version]] | None = None,
    ) -> dict[NormalizedName, ProjectPage | None]:
        raise AssertionError("a uv.lock lists its files: no index page is needed")

    plan = plan_inputs.plan_all(inputs, fetch_projects=fetch, system_packages=no_system_packages)

    (musl, x86) = plan.targets
    assert {p.name for p in musl.packages if p.action == "build"} == {"rpi-gpio", "psutil"}
    assert not plan.has_errors
    assert {str(p.name): p.action for p in x86.packages}["psutil"] == "download"


# --- plan_all ---------------------------------------------------------------------


def test_each_page_is_fetched_once_for_every_target(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "docopt==0.6.2\ncffi==1.17.1\n"
        'RPi.GPIO==0.7.1 ; platform_machine == "aarch64"\n'
        "hg+https://example.com/x#egg=thing\n",
    )
    inputs = plan_inputs.pins_from_requirements(
        plan_inputs.read_requirements(path),
        TARGETS,
        force_build=frozenset(),
        resolve="auto",
        compile_for=never_compile,
    )
    index = FakeIndex(
        {
            "cffi": [
                "cffi-1.17.1.tar.gz",
                "cffi-1.17.1-cp312-cp312-musllinux_1_1_aarch64.whl",
                "cffi-1.17.1-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            ],
            "docopt": ["docopt-0.6.2.tar.gz"],
            "rpi-gpio": ["RPi.GPIO-0.7.1.tar.gz"],
        }
    )

    plan = plan_inputs.plan_all(inputs, fetch_projects=index, system_packages=no_system_packages)

    assert index.calls == [["cffi", "docopt", "rpi-gpio"]]
    assert index.versions == [{"cffi": {"1.17.1"}, "docopt": {"0.6.2"}, "rpi-gpio": {"0.7.1"}}]
    assert [t.target for t in plan.targets] == [MUSL_ARM, GLIBC_X86]
    musl = {p.name: (p.action, p.file) for p in plan.targets[0].packages}
    assert musl == {
        "cffi": ("download", "cffi-1.17.1-cp312-cp312-musllinux_1_1_aarch64.whl"),
        "docopt": ("build", "docopt-0.6.2.tar.gz"),
        "rpi-gpio": ("build", "RPi.GPIO-0.7.1.tar.gz"),
        "thing": ("error", None),
    }
    x86 = {p.name: p.action for p in plan.targets[1].packages}
    assert x86 == {"cffi": "download", "docopt": "build", "thing": "error"}
    assert plan.has_errors


def test_nothing_to_fetch_asks_nothing() -> None:
    index = FakeIndex({})
    inputs = plan_inputs.PlanInputs(pins={MUSL_ARM: ()}, warnings=("w",))

    plan = plan_inputs.plan_all(inputs, fetch_projects=index, system_packages=no_system_packages)

    assert index.calls == []
    assert plan.warnings == ("w",)
    assert plan.targets[0].packages == ()
    assert not plan.has_errors


def test_system_packages_are_asked_per_target() -> None:
    seen: list[tuple[str, str]] = []

    def system_packages(name: NormalizedName, target: Target) -> tuple[str, ...]:
        seen.append((name, target.id))
        return (f"{target.arch.value}-dev",)

    pin = Pin(name=canonicalize_name("docopt"), version=Version("0.6.2"))
    inputs = plan_inputs.PlanInputs(pins={MUSL_ARM: (pin,), GLIBC_ARM: (pin,)})

    plan = plan_inputs.plan_all(
        inputs,
        fetch_projects=FakeIndex({"docopt": ["docopt-0.6.2.tar.gz"]}),
        system_packages=system_packages,
    )

    assert seen == [("docopt", MUSL_ARM.id), ("docopt", GLIBC_ARM.id)]
    assert plan.targets[0].packages[0].system_packages == ("aarch64-dev",)


def test_build_modes_are_asked_per_target() -> None:
    seen: list[tuple[str, str]] = []

    def build_mode(name: NormalizedName, target: Target) -> ModeChoice:
        seen.append((name, target.id))
        if target == GLIBC_ARM:
            return ModeChoice(mode="cross", fallback=True, reason="auto")
        return ModeChoice(mode="emulate", reason="no tested cross toolchain for Alpine")

    pin = Pin(name=canonicalize_name("docopt"), version=Version("0.6.2"))
    inputs = plan_inputs.PlanInputs(pins={MUSL_ARM: (pin,), GLIBC_ARM: (pin,)})

    plan = plan_inputs.plan_all(
        inputs,
        fetch_projects=FakeIndex({"docopt": ["docopt-0.6.2.tar.gz"]}),
        system_packages=no_system_packages,
        build_mode=build_mode,
    )

    assert seen == [("docopt", MUSL_ARM.id), ("docopt", GLIBC_ARM.id)]
    modes = [(t.packages[0].build_mode, t.packages[0].build_mode_reason) for t in plan.targets]
    assert modes == [("emulate", "no tested cross toolchain for Alpine"), ("cross", None)]


def test_the_index_is_asked_for_the_pinned_versions_only() -> None:
    def pin(name: str, version: str) -> Pin:
        return Pin(name=canonicalize_name(name), version=Version(version))

    locked = replace(pin("locked", "1.0"), files=(rf("locked-1.0.tar.gz"),))
    vcs = replace(pin("vcs", "0"), unsupported="a VCS URL")
    inputs = plan_inputs.PlanInputs(
        pins={
            MUSL_ARM: (pin("a", "1.0"), pin("b", "2.0"), locked),
            GLIBC_X86: (pin("a", "1.1"), vcs),
        }
    )
    index = FakeIndex({"a": ["a-1.0.tar.gz", "a-1.1.tar.gz", "a-1.2.tar.gz"]})

    plan = plan_inputs.plan_all(inputs, fetch_projects=index, system_packages=no_system_packages)

    assert index.calls == [["a", "b"]]
    assert index.versions == [{"a": {"1.0", "1.1"}, "b": {"2.0"}}]
    musl = {str(p.name): (p.action, p.file) for p in plan.targets[0].packages}
    assert musl == {
        "a": ("build", "a-1.0.tar.gz"),
        "b": ("error", None),
        "locked": ("build", "locked-1.0.tar.gz"),
    }
    x86 = {str(p.name): (p.action, p.file) for p in plan.targets[1].packages}
    assert x86 == {"a": ("build", "a-1.1.tar.gz"), "vcs": ("error", None)}


# --- requirements with sources of their own ----------------------------------------


def test_source_lines_are_prepared_once_and_pinned_per_target(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    path = write(
        tmp_path,
        "six==1.17.0\n-e ./app\n"
        "crcmod @ https://files.example/crcmod-1.7.tar.gz ; platform_machine == 'aarch64'\n",
    )
    seen: list[list[str]] = []
    crcmod = ReleaseFile(
        filename="crcmod-1.7.tar.gz",
        url="https://files.example/crcmod-1.7.tar.gz",
        sha256="c" * 64,
        source="url",
    )

    def prepare(lines: Sequence[reqs.SourceLine]) -> tuple[Prepared, ...]:
        seen.append([line.kind for line in lines])
        app, url = lines
        return (
            Prepared(line=app, name=canonicalize_name("app"), app="the app"),
            Prepared(
                line=url, name=canonicalize_name("crcmod"), version=Version("1.7"), file=crcmod
            ),
        )

    inputs = plan_inputs.pins_from_requirements(
        plan_inputs.read_requirements(path),
        TARGETS,
        force_build=frozenset(),
        resolve="auto",
        compile_for=never_compile,
        prepare_sources=prepare,
    )

    assert seen == [["editable", "url"]]
    arm = {str(p.name): p for p in inputs.pins[MUSL_ARM]}
    assert sorted(arm) == ["app", "crcmod", "six"]
    assert (arm["app"].app, arm["crcmod"].files, arm["crcmod"].hashes) == (
        "the app",
        (crcmod,),
        frozenset({"c" * 64}),
    )
    assert sorted(p.name for p in inputs.pins[GLIBC_X86]) == ["app", "six"]
    plan = plan_inputs.plan_all(
        inputs,
        fetch_projects=FakeIndex({"six": ["six-1.17.0-py3-none-any.whl"]}),
        system_packages=no_system_packages,
    )
    rows = {p.name: (p.action, p.source) for p in plan.targets[0].packages}
    assert rows == {"app": ("app", None), "crcmod": ("build", "url"), "six": ("download", None)}


# --- a target that cannot be planned ----------------------------------------------------------

OLD_PYTHON = Target.parse("cp310-manylinux_2_36_x86_64")


def test_a_target_the_lock_excludes_is_its_error_and_the_others_are_planned() -> None:
    targets = tuple(TargetConfig.default(t) for t in (OLD_PYTHON, GLIBC_X86))

    inputs = plan_inputs.pins_from_lock(DEMO_LOCK, targets, frozenset())

    assert list(inputs.pins) == [GLIBC_X86]
    assert list(inputs.errors) == [OLD_PYTHON]
    assert f"requires-python >=3.11 excludes target {OLD_PYTHON.id}" in inputs.errors[OLD_PYTHON]
    assert "hint: drop the target" in inputs.errors[OLD_PYTHON]
    plan = plan_inputs.plan_all(
        inputs, fetch_projects=FakeIndex({}), system_packages=no_system_packages
    )
    old, x86 = plan.targets
    assert (old.target, old.packages, x86.target) == (OLD_PYTHON, (), GLIBC_X86)
    assert x86.packages and x86.error is None
    assert plan.has_errors
    assert plan.to_json()["targets"][0] == {
        "id": OLD_PYTHON.id,
        "packages": [],
        "error": inputs.errors[OLD_PYTHON],
    }
    assert "error" not in plan.to_json()["targets"][1]


def test_when_every_target_fails_the_first_error_is_raised() -> None:
    old_arm = Target.parse("cp310-manylinux_2_36_aarch64")
    targets = tuple(TargetConfig.default(t) for t in (OLD_PYTHON, old_arm))
    with pytest.raises(RequirementsError, match=f"excludes target {OLD_PYTHON.id}"):
        plan_inputs.pins_from_lock(DEMO_LOCK, targets, frozenset())


def test_a_target_uv_cannot_resolve_for_is_its_error(tmp_path: Path) -> None:
    path = write(tmp_path, "docopt>=0.6\n")

    def compile_for(_path: Path, target: Target) -> str:
        if target == MUSL_ARM:
            raise ResolveError(f"uv could not resolve {path} for {target.id}: no solution")
        return "docopt==0.6.2\n"

    inputs = plan_inputs.pins_from_requirements(
        reqs.parse_requirements(path),
        TARGETS,
        force_build=frozenset(),
        resolve="auto",
        compile_for=compile_for,
    )
    assert list(inputs.pins) == [GLIBC_X86]
    assert inputs.errors == {
        MUSL_ARM: f"uv could not resolve {path} for {MUSL_ARM.id}: no solution"
    }


def test_lock_git_folder_and_editable_sources_are_prepared_and_replace_the_lock_pins() -> None:
    kinds = ROOT / "tests/data/uvlock/kinds/uv.lock"
    sdist = ReleaseFile(
        filename="gitpkg-1.5.0.tar.gz",
        url="file:///cache/files/gitpkg-1.5.0.tar.gz",
        sha256="e" * 64,
        source="git",
        commit="c858d111b44593f1305db0371c531b9e2925534c",
        repository="file:///tmp/gitpkg",
    )

    def prepare(lines: Sequence[reqs.SourceLine]) -> tuple[Prepared, ...]:
        by_name = {line.name: line for line in lines}
        return (
            Prepared(
                line=by_name[canonicalize_name("gitpkg")],
                name=canonicalize_name("gitpkg"),
                version=Version("1.5.0"),
                file=sdist,
            ),
            Prepared(
                line=by_name[canonicalize_name("localedit")],
                name=canonicalize_name("localedit"),
                app="the app's own member",
            ),
        )

    inputs = plan_inputs.pins_from_lock(
        kinds, (TargetConfig.default(GLIBC_X86),), frozenset(), prepare_sources=prepare
    )

    pins = {str(p.name): p for p in inputs.pins[GLIBC_X86]}
    assert (pins["gitpkg"].files, pins["gitpkg"].unsupported) == ((sdist,), None)
    assert pins["gitpkg"].location == Location(file=kinds, field="package[3]")
    assert pins["localedit"].app == "the app's own member"
    assert pins["localdir"].unsupported is not None  # not prepared: the lock's reason stays
