"""How faaskit itself gets into a deployable folder.

faaskit is not on PyPI yet, so ``pip install faaskit[aws]`` would find nothing on a
cloud's build service. Instead the folder gets a copy of the faaskit package that is
running now (``faaskit/``, next to the app's code, where every platform's Python puts
the code folder on ``sys.path``), and ``requirements.txt`` lists faaskit's own
dependencies and its extra's, read from the installed distribution's metadata. The
output then deploys as-is with each platform's ordinary build (``sam build``, Cloud
Build's buildpack, Oryx), which only ever installs from PyPI.
"""

from __future__ import annotations

import compileall
import importlib.metadata
import py_compile
import re
import shutil
import sys
from pathlib import Path

import faaskit
from faaskit.packaging.defaults import PYTHON

__all__ = ["copy_faaskit", "faaskit_version", "requirements"]

_EXTRA = re.compile(r"""^\s*extra\s*==\s*["']([^"']+)["']\s*$""")
_SKIPPED = shutil.ignore_patterns("__pycache__", "*.pyc")


def faaskit_version() -> str:
    """The version of the faaskit that is packaging (``0.1.0``)."""
    return importlib.metadata.version("faaskit")


def copy_faaskit(folder: Path) -> Path:
    """Copy the running faaskit package (its modules, SQL schemas and ``py.typed``) into
    ``folder``; the copy's path."""
    source = Path(faaskit.__file__).parent
    target = folder / "faaskit"
    shutil.copytree(source, target, ignore=_SKIPPED)
    if f"{sys.version_info.major}.{sys.version_info.minor}" == PYTHON:
        # A function's code folder is read-only on every cloud: without bytecode shipped,
        # each cold start compiles faaskit from source again (~20 ms). Checked hashes stay
        # valid whatever the deploy does to file times; another Python ignores them.
        compileall.compile_dir(
            target, quiet=1, invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH
        )
    return target


def requirements(extra: str) -> list[str]:
    """faaskit's requirements with ``extra``'s (``"aws"``), one requirement a line, each
    once, in the order the metadata lists them; markers other than the extra's are kept
    for pip to evaluate on the platform."""
    lines: list[str] = []
    for requirement in importlib.metadata.requires("faaskit") or []:
        spec, _, marker = requirement.partition(";")
        spec, marker = spec.strip(), marker.strip()
        if marker:
            wanted = _EXTRA.match(marker)
            if wanted is not None:
                if wanted.group(1) != extra:
                    continue
                marker = ""
            elif "extra" in marker:  # an extra inside a compound marker: not ours to split
                raise ValueError(f"cannot read the requirement {requirement!r}")
        line = f"{spec}; {marker}" if marker else spec
        if line not in lines:
            lines.append(line)
    return lines
