"""One CLI invocation's wiring: config, targets, caches and the real outside world.

The CLI builds a ``Session``; the session hands real clients (the index, uv, the
engine) to the pure and testable parts of the library.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name

from orchestrator.build.recipe import recipe_summary
from orchestrator.config import BuildMode, Config, Recipe, TargetConfig, load_config
from orchestrator.knowledge import Knowledge, load_knowledge
from orchestrator.model import Plan, ReleaseFile
from orchestrator.paths import default_cache_dir
from orchestrator.plan import inputs as plan_inputs
from orchestrator.plan.completion import ClosureCheck, Requires
from orchestrator.plan.modes import BuildModes, plan_modes
from orchestrator.plan.resolve import UvResolver
from orchestrator.plan.sources import prepare
from orchestrator.pypi.httpcache import HttpCache
from orchestrator.pypi.index import IndexClient, IndexConfig, fetch_find_links_page
from orchestrator.pypi.metadata import CoreMetadata, MetadataClient
from orchestrator.sources import HostSources
from orchestrator.targets import Arch, Target


@dataclass(frozen=True, kw_only=True)
class Session:
    config: Config
    targets: tuple[TargetConfig, ...]
    requirements: Path
    cache_dir: Path
    refresh: bool = False
    extra_force_build: frozenset[NormalizedName] = frozenset()

    @classmethod
    def open(
        cls,
        config_path: Path | None,
        requirements: Path | None,
        target_ids: Sequence[str],
        arches: Sequence[str],
        *,
        refresh: bool = False,
        force_build: Sequence[str] = (),
    ) -> Session:
        config = load_config(config_path)
        targets = config.select_targets(target_ids, arches)
        return cls(
            config=config,
            targets=targets,
            requirements=plan_inputs.requirements_path(config, requirements),
            cache_dir=config.cache_dir or default_cache_dir(),
            refresh=refresh,
            extra_force_build=frozenset(canonicalize_name(n) for n in force_build),
        )

    @cached_property
    def knowledge(self) -> Knowledge:
        """The packaged knowledge file with wheelhouse.yaml's ``packages:`` on top."""
        return load_knowledge().with_overrides(self.config.packages)

    @property
    def recipes(self) -> dict[NormalizedName, Recipe]:
        """wheelhouse.yaml's ``packages.<name>`` recipes (env, patches, test ...), over the
        knowledge file's verify defaults (``test``, ``imports``)."""
        recipes = {
            name: Recipe(test=entry.test, imports=entry.imports)
            for name, entry in self.knowledge.packages.items()
            if entry.test is not None or entry.imports is not None
        }
        for name, package in self.config.packages.items():
            own = package.recipe
            if own.empty:
                continue
            known = recipes.get(name, Recipe())
            recipes[name] = replace(
                own,
                test=own.test if own.test is not None else known.test,
                imports=own.imports if own.imports is not None else known.imports,
            )
        return recipes

    @property
    def force_build(self) -> frozenset[str]:
        return frozenset(self.config.force_build | self.extra_force_build)

    def build_modes(
        self, *, build_arch: Arch, override: BuildMode | None = None, emulate: Sequence[str] = ()
    ) -> BuildModes:
        """wheelhouse.yaml's build modes with ``--mode`` and ``--emulate`` on top, for cross
        stages running on ``build_arch`` (the buildx builder's native platform)."""
        return BuildModes.from_config(
            self.config, override=override, emulate=emulate, build_arch=build_arch
        )

    def plan(self, modes: BuildModes | None = None) -> Plan:
        return self.plan_with_index(modes)[0]

    def plan_with_index(self, modes: BuildModes | None = None) -> tuple[Plan, IndexConfig]:
        """The plan, and the index settings it was made with (builds resolve against them).
        With ``modes``, each build says how it will run."""
        lock = plan_inputs.is_uv_lock(self.requirements)
        hashed = False
        find_links: tuple[str, ...] = ()
        if lock:
            inputs = plan_inputs.pins_from_lock(
                self.requirements,
                self.targets,
                self.force_build,
                prepare_sources=lambda lines: prepare(
                    lines, HostSources(self.cache_dir), force_build=self.force_build
                ),
            )
            index = self._index_config(None, ())
        else:
            parsed = plan_inputs.read_requirements(self.requirements)
            hashed = any(line.hashes for line in parsed.requirements)
            index = self._index_config(parsed.index_url, parsed.extra_index_urls)
            find_links = tuple(f.uv_value for f in parsed.find_links)
            resolver = UvResolver(
                index_url=index.index_url,
                extra_index_urls=index.extra_index_urls,
                find_links=find_links,
            )
            inputs = plan_inputs.pins_from_requirements(
                parsed,
                self.targets,
                force_build=self.force_build,
                resolve=self.config.resolve,
                compile_for=resolver.compile,
                fetch_page=fetch_find_links_page,
                prepare_sources=lambda lines: prepare(
                    lines, HostSources(self.cache_dir), force_build=self.force_build
                ),
            )
        plan = plan_inputs.plan_all(
            inputs,
            fetch_projects=self.index_client(index).get_projects_sync,
            system_packages=self.system_packages,
            build_mode=(
                plan_modes(modes, self.knowledge, self.target_config) if modes is not None else None
            ),
            closure=self._closure_check(index, hashed=hashed, lock=lock, find_links=find_links),
        )
        return self._with_recipes(plan), index

    def _with_recipes(self, plan: Plan) -> Plan:
        """Each planned package with its wheelhouse.yaml recipe, for ``plan`` to show."""
        recipes = self.recipes
        if not recipes:
            return plan
        targets = tuple(
            replace(
                tp,
                packages=tuple(
                    replace(p, recipe=recipe_summary(recipes[p.name], tp.target))
                    if p.name in recipes
                    else p
                    for p in tp.packages
                ),
            )
            for tp in plan.targets
        )
        return replace(plan, targets=targets)

    def _closure_check(
        self, index: IndexConfig, *, hashed: bool, lock: bool, find_links: tuple[str, ...]
    ) -> ClosureCheck:
        """Every pin's metadata from the index, and uv for what is missing (``resolve``)."""
        client = MetadataClient(cache_dir=self.cache_dir / "metadata")
        resolver = UvResolver(
            index_url=index.index_url,
            extra_index_urls=index.extra_index_urls,
            find_links=find_links,
        )

        def fetch_requires(files: Sequence[ReleaseFile]) -> dict[str, Requires | str]:
            answers = client.get_many_sync(files)
            return {
                url: Requires(requires_dist=a.requires_dist, dynamic=a.dynamic)
                if isinstance(a, CoreMetadata)
                else str(a)
                for url, a in answers.items()
            }

        never = lock or self.config.resolve == "never"
        return ClosureCheck(
            fetch_requires=fetch_requires,
            resolve_missing=(
                None if never else plan_inputs.missing_resolver(resolver.compile, hashes=hashed)
            ),
            source="uv.lock" if lock else "requirements",
            fix_command=lambda target: resolver.fix_command(target, self.requirements),
        )

    def index_client(self, index: IndexConfig) -> IndexClient:
        return IndexClient(index, cache=HttpCache(self.cache_dir / "http"), refresh=self.refresh)

    def base_images(self) -> dict[str, str]:
        """Each target's base image, by target id (the plan table names them)."""
        return {tc.target.id: tc.base_image for tc in self.targets}

    def target_config(self, target: Target) -> TargetConfig:
        for tcfg in self.targets:  # with the interpreter learned from the image, if it was
            if tcfg.target == target:
                return tcfg
        return self.config.target_config(target)

    def with_interpreters(self, full_version: Callable[[TargetConfig], str]) -> Session:
        """The session whose targets have their interpreter's version (``3.11.2``): the
        configured ``python_full_version``, else what ``full_version`` learns of the image."""
        targets = tuple(
            tc
            if tc.target.python_micro is not None
            else replace(tc, target=tc.target.with_full_version(full_version(tc)))
            for tc in self.targets
        )
        return replace(self, targets=targets)

    def _index_config(self, url: str | None, extra: Sequence[str]) -> IndexConfig:
        return IndexConfig.resolve(
            config_url=self.config.index_url,
            config_extra=self.config.extra_index_urls,
            requirements_url=url,
            requirements_extra=tuple(extra),
            environ=os.environ,
        )

    def system_packages(self, name: NormalizedName, target: Target) -> tuple[str, ...]:
        """What ``name``'s build installs on ``target`` besides the toolchain (Rust's
        included): the knowledge file, overridden by wheelhouse.yaml ``packages:``."""
        manager = self.target_config(target).package_manager
        return self.knowledge.build_packages(name, manager)
