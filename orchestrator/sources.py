"""The host's side of requirements with sources of their own (``plan.sources``): archive
URLs and local archives go through the download store (fetched or copied once, sha256
checked), and a project folder becomes an sdist with ``uv build --sdist`` on the host,
then stored the same way. Wiring, like ``session``: it joins ``pypi`` to ``plan``."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path

from orchestrator.archives import ArchiveError, canonical_tar_gz
from orchestrator.paths import write_atomically
from orchestrator.plan.gitspec import GitSpec
from orchestrator.plan.sources import SourceError
from orchestrator.pypi.downloads import Downloader, DownloadError, FileRequest, FileStore
from orchestrator.pypi.uv import uv_command
from orchestrator.urls import mask_userinfo, masked

__all__ = ["HostSources"]


class HostSources:
    """``plan.sources.SourceHost`` over ``<cache>/files`` and uv."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = cache_dir.resolve()

    def fetch(self, url: str, filename: str, sha256: str | None) -> tuple[Path, str]:
        request = FileRequest(filename=filename, url=url, sha256=sha256)
        try:
            with Downloader.for_cache(self.cache_dir) as downloader:
                stored = downloader.fetch(request)
        except DownloadError as exc:
            raise SourceError(f"{masked(url)}: {exc.message}") from exc
        return stored.path, stored.sha256

    def sdist(self, folder: Path, *, epoch: int | None = None) -> tuple[Path, str]:
        """An sdist of ``folder``; of a cached checkout, the one made of its commit the
        first time (its canonical bytes depend on nothing else that a plan could change,
        and making it is most of what a git source adds to a plan: 1 s a package)."""
        memo = self._memo_of(folder)
        if memo is not None and (made := self._remembered(memo)) is not None:
            return made
        stored, sha256 = self._make_sdist(folder, epoch)
        if memo is not None:
            write_atomically(memo, json.dumps({"filename": stored.name, "sha256": sha256}).encode())
        return stored, sha256

    def _make_sdist(self, folder: Path, epoch: int | None) -> tuple[Path, str]:
        out = self.cache_dir.resolve() / "sdists"
        out.mkdir(parents=True, exist_ok=True)
        # One date, so the same tree makes the same sdist (and the build cache hits):
        # backends that honour SOURCE_DATE_EPOCH (flit, hatchling) date members with it,
        # the others' dates (setuptools: each file's mtime) are rewritten to it.
        date = max(epoch, _EPOCH_1980) if epoch is not None else _user_epoch()
        with tempfile.TemporaryDirectory(prefix="sdist-", dir=out) as tmp:
            source = self._pristine(folder, Path(tmp) / "tree")
            cmd = [*uv_command(), "build", "--sdist", "--out-dir", tmp, str(source)]
            env = {**os.environ, "SOURCE_DATE_EPOCH": str(date), "UV_NO_PROGRESS": "1"}
            done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
            made = sorted(Path(tmp).glob("*.tar.gz"))
            if done.returncode != 0 or len(made) != 1:
                tail = "\n".join(done.stderr.strip().splitlines()[-5:])
                raise SourceError(f"`uv build --sdist {folder}` failed: {tail}")
            canonical = Path(tmp) / "canonical" / made[0].name
            canonical.parent.mkdir()
            try:
                canonical_tar_gz(made[0], canonical, mtime=date)
            except (ArchiveError, tarfile.TarError, OSError) as exc:
                raise SourceError(f"`uv build --sdist {folder}` made a bad sdist: {exc}") from exc
            return self.fetch(canonical.as_uri(), canonical.name, None)

    def _in_checkouts(self, folder: Path) -> Path | None:
        """``folder``'s place under ``<cache>/git/checkouts`` (``<commit>/<subdirectory>``),
        ``None`` for the user's own folders."""
        checkouts = self.cache_dir / "git" / "checkouts"
        folder = folder.resolve()
        if not folder.is_relative_to(checkouts) or folder == checkouts:
            return None
        return folder.relative_to(checkouts)

    def _memo_of(self, folder: Path) -> Path | None:
        """``<cache>/git/sdists/<key>.json`` for a folder of a cached checkout (its
        commit and subdirectory), ``None`` for the user's own folders."""
        where = self._in_checkouts(folder)
        if where is None:
            return None
        key = hashlib.sha256(where.as_posix().encode()).hexdigest()[:32]
        return self.cache_dir / "git" / "sdists" / f"{key}.json"

    def _remembered(self, memo: Path) -> tuple[Path, str] | None:
        try:
            made = json.loads(memo.read_text())
            stored = FileStore(self.cache_dir / "files").get(made["sha256"], made["filename"])
        except (OSError, ValueError, KeyError, TypeError):
            return None  # none yet, or unreadable: made again
        return (stored, made["sha256"]) if stored is not None else None

    def _pristine(self, folder: Path, copy: Path) -> Path:
        """The folder a backend may write into (setuptools writes its egg-info beside the
        sources): a checkout of this cache is copied whole, so it stays as git made it
        and ``.git`` is there for setuptools-scm; the user's own folder is built in place,
        as pip and uv build it."""
        where = self._in_checkouts(folder)
        if where is None:
            return folder.resolve()
        commit, *subdirectory = where.parts
        shutil.copytree(self.cache_dir / "git" / "checkouts" / commit, copy, symlinks=True)
        return copy.joinpath(*subdirectory)

    def git(self, spec: GitSpec) -> tuple[str, Path, int]:
        """Fetch on the host (the user's git configuration and credential helpers apply),
        into ``<cache>/git/<key>.git``; check the commit out with its submodules into
        ``<cache>/git/checkouts/<commit>``. Messages never show credentials."""
        shown = masked(spec.url)
        key = hashlib.sha256(shown.encode()).hexdigest()[:24]
        repo = self.cache_dir / "git" / f"{key}.git"
        if not repo.is_dir():
            _git(spec, "init", "--quiet", "--bare", str(repo))
        wanted = spec.locked_commit or spec.rev
        commit = _commit(repo, wanted) if wanted and _is_sha(wanted) else None
        if commit is None:
            refs = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]
            _git(
                spec,
                "-C",
                str(repo),
                "fetch",
                "--quiet",
                "--force",
                spec.url,
                *refs,
                "+HEAD:refs/wheelhouse/HEAD",
            )
            commit = _commit(repo, wanted or "refs/wheelhouse/HEAD")
        if commit is None and wanted and _is_sha(wanted):
            _git(spec, "-C", str(repo), "fetch", "--quiet", spec.url, wanted, check=False)
            commit = _commit(repo, wanted)
        if commit is None:
            raise SourceError(
                f"{shown}: no branch, tag or commit {wanted!r}; check the rev after `@` "
                "(`git ls-remote` lists what the repository has)"
            )
        epoch = int(_git(spec, "-C", str(repo), "show", "-s", "--format=%ct", commit).strip())
        return commit, self._checkout(spec, repo, commit), epoch

    def _checkout(self, spec: GitSpec, repo: Path, commit: str) -> Path:
        done = self.cache_dir / "git" / "checkouts" / commit
        if (done / ".git").exists():
            return done
        done.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=done.parent))
        try:
            _git(spec, "clone", "--quiet", "--no-checkout", str(repo), str(tmp))
            _git(spec, "-C", str(tmp), "checkout", "--quiet", "--detach", commit)
            # Relative submodule URLs are taken from origin: the real repository, for the
            # update only, then dropped, so no credential stays in the checkout.
            _git(spec, "-C", str(tmp), "remote", "set-url", "origin", spec.url)
            local = ("-c", "protocol.file.allow=always") if spec.url.startswith("file:") else ()
            _git(
                spec,
                "-C",
                str(tmp),
                *local,
                "submodule",
                "update",
                "--init",
                "--recursive",
                "--quiet",
            )
            _git(spec, "-C", str(tmp), "remote", "remove", "origin")
            _forget_submodule_urls(spec, tmp)
            tmp.rename(done)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return done


#: 1980-01-01: zip (a wheel) holds no earlier date.
_EPOCH_1980 = 315532800


def _user_epoch() -> int:
    """The user's ``SOURCE_DATE_EPOCH`` when it is a date zip can hold, else 1980-01-01."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "")
    return max(int(value), _EPOCH_1980) if value.isdigit() else _EPOCH_1980


def _forget_submodule_urls(spec: GitSpec, checkout: Path) -> None:
    """Submodule URLs (which may hold the origin's credentials) out of the checkout's
    config, and the submodules' ``.git`` pointer files out of the tree an sdist is made
    of (a backend would pack them)."""
    found = _git(
        spec, "-C", str(checkout), "config", "--get-regexp", r"^submodule\..*\.url$", check=False
    )
    for line in found.splitlines():
        key, _, url = line.partition(" ")
        _git(spec, "-C", str(checkout), "config", key, masked(url))
    for pointer in checkout.rglob(".git"):
        if pointer.is_file() and pointer.parent != checkout:
            pointer.unlink()


_SHA = re.compile(r"^[0-9a-f]{40}$")


def _is_sha(rev: str) -> bool:
    return _SHA.match(rev) is not None


def _commit(repo: Path, rev: str) -> str | None:
    done = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def _git(spec: GitSpec, *args: str, check: bool = True) -> str:
    # Never wait for a password on a terminal: a credential helper or nothing.
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, env=env, check=False)
    except FileNotFoundError:
        raise SourceError("git is not installed on this machine; install git") from None
    if check and done.returncode != 0:
        text = mask_userinfo(done.stderr.strip().replace(spec.url, masked(spec.url)))
        tail = " ".join(text.splitlines()[-2:])
        raise SourceError(f"git {_shown_args(args, spec)} failed: {tail}")
    return done.stdout


def _shown_args(args: Sequence[str], spec: GitSpec) -> str:
    shown = [masked(a) if a == spec.url else a for a in args]
    return " ".join(a for a in shown if not a.startswith("+refs"))
