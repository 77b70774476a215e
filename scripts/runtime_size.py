#!/usr/bin/env python3
"""How much the mounted wheelhouse saves: the runtime image with a COPY of the wheels vs
the stage `wheelhouse dockerfile` prints (RUN --mount, no wheel left in a layer).

Usage: .venv/bin/python scripts/runtime_size.py -c wheelhouse.yaml -t TARGET

Run it in the directory of wheelhouse.yaml, after `wheelhouse build` for TARGET. It renders
the runtime stage for TARGET (folder form) and the same stage with the install's mount
replaced by `COPY <wheelhouse> /wheels` (what `wheelhouse dockerfile` printed before),
builds both for the target's platform with `docker buildx build --load`, and prints the
size of each image, of the base image, and of the wheelhouse's files. The images it
built are removed. Sizes are the engine's (`docker image inspect`, uncompressed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from orchestrator.build.engine import DockerEngine
from orchestrator.config import load_config
from orchestrator.targets import Target
from orchestrator.wheelhouse.runtime import WHEELS, render_dockerignore, render_runtime_dockerfile


def copy_form(dockerfile: str, source: str) -> str:
    """The stage with the wheels COPY'd into a layer instead of mounted for the install."""
    mount = next(line for line in dockerfile.splitlines() if line.startswith("RUN --mount="))
    return dockerfile.replace(mount, f"COPY {source} {WHEELS}\nRUN \\")


def size(image: str) -> int:
    out = subprocess.run(
        ["docker", "image", "inspect", "-f", "{{.Size}}", image],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.strip())


def build(context: Path, dockerfile: str, platform: str, tag: str) -> None:
    (context / "Dockerfile").write_text(dockerfile)
    subprocess.run(
        [
            *("docker", "buildx", "build", "--platform", platform, "--network", "none"),
            *("--load", "-t", tag, str(context)),
        ],
        check=True,
        capture_output=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--config", type=Path, default=Path("wheelhouse.yaml"))
    parser.add_argument("-t", "--target", required=True)
    args = parser.parse_args()
    loaded = load_config(args.config)
    tcfg = loaded.target_config(Target.parse(args.target))
    wheelhouse = (loaded.output / tcfg.target.id).resolve()
    platform = tcfg.target.arch.docker_platform
    files = [p for p in wheelhouse.rglob("*") if p.is_file()]
    wheels = sum(p.stat().st_size for p in files if p.suffix == ".whl")
    mounted = render_runtime_dockerfile(tcfg, "wheels")
    tags = {
        "mount": f"wheelhouse-size/mount:{os.getpid()}",
        "copy": f"wheelhouse-size/copy:{os.getpid()}",
    }
    try:
        with tempfile.TemporaryDirectory() as temp:
            context = Path(temp)
            shutil.copytree(wheelhouse, context / "wheels")
            (context / ".dockerignore").write_text(render_dockerignore())
            build(context, mounted, platform, tags["mount"])
            build(context, copy_form(mounted, "wheels"), platform, tags["copy"])
        sizes = {form: size(tag) for form, tag in tags.items()}
        # The local tag may hold another platform (a multi-platform tag): the pinned one.
        base = size(DockerEngine().image_digest(tcfg.runtime_image, platform))
    finally:
        subprocess.run(
            ["docker", "image", "rm", "-f", *tags.values()], capture_output=True, check=False
        )
    mb = 1e6
    print(f"target {tcfg.target.id} ({platform}), runtime image {tcfg.runtime_image}")
    print(f"wheelhouse: {sum(1 for p in files if p.suffix == '.whl')} wheels, {wheels / mb:.1f} MB")
    print(f"base image:              {base / mb:7.1f} MB")
    print(f"runtime, COPY'd wheels:  {sizes['copy'] / mb:7.1f} MB")
    print(f"runtime, mounted wheels: {sizes['mount'] / mb:7.1f} MB")
    print(f"difference:              {(sizes['copy'] - sizes['mount']) / mb:7.1f} MB")


if __name__ == "__main__":
    main()
