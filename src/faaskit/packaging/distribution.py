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

import importlib.metadata
import re
import shutil
from pathlib import Path

import faaskit

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
