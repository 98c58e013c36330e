"""What packaging needs to know about an app: the App itself, how the generated entry
module imports it, and which files on disk hold its code.

``faaskit package examples/shop`` finds the App as ``faaskit dev`` does
(:func:`faaskit.loader.load_app`); the code to ship is the top-level package or module
that import came from, or, for a folder with ``app.py`` and no ``__init__.py``, the
folder's Python files.
"""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass
from pathlib import Path

from faaskit.app import App
from faaskit.errors import ConfigurationError
from faaskit.loader import _module_for, load_app  # the same reference rules as `faaskit dev`

__all__ = ["AppSource", "PackagingError", "find_app"]

# Never shipped: caches, local state, virtual environments, version control.
_SKIPPED = shutil.ignore_patterns(
    "__pycache__", "*.pyc", ".faaskit", ".venv*", ".git", ".mypy_cache", ".pytest_cache"
)


class PackagingError(ConfigurationError):
    """The app cannot be packaged as asked (a bad path, an existing output, a clash)."""


@dataclass(frozen=True)
class AppSource:
    """An app found for packaging.

    ``module`` and ``attribute`` are what the entry module imports (``from shop import
    app``); ``paths`` are the files and folders to copy next to it, each keeping its name.
    """

    app: App
    module: str
    attribute: str
    paths: tuple[Path, ...]

    @property
    def top_level_names(self) -> frozenset[str]:
        """The importable names the copied code brings (they must not clash with ours)."""
        return frozenset(path.stem if path.is_file() else path.name for path in self.paths)

    def import_line(self, alias: str) -> str:
        """``from shop import app as faaskit_app``, for a generated entry module."""
        return f"from {self.module} import {self.attribute} as {alias}"

    def copy_into(self, folder: Path) -> list[Path]:
        """Copy the app's code into ``folder``; the paths written."""
        written = []
        for path in self.paths:
            target = folder / path.name
            if path.is_dir():
                shutil.copytree(path, target, ignore=_SKIPPED)
            else:
                shutil.copy2(path, target)
            written.append(target)
        return written

    def contains(self, path: Path) -> bool:
        """Whether ``path`` lies inside the code that would be copied."""
        resolved = path.resolve()
        return any(
            resolved == source or (source.is_dir() and resolved.is_relative_to(source))
            for source in self.paths
        )


def find_app(reference: str) -> AppSource:
    """The App that ``reference`` names (as ``faaskit dev`` takes it) and its code."""
    target, _, attribute = reference.partition(":")
    app = load_app(reference)  # AppNotFoundError (one line) for a bad reference
    module = _module_for(target)
    top = module.partition(".")[0]
    spec = importlib.util.find_spec(top)
    if spec is None or (spec.origin is None and not spec.submodule_search_locations):
        raise PackagingError(f"cannot tell where the code of {top!r} lives")
    if spec.submodule_search_locations:
        paths: tuple[Path, ...] = (Path(next(iter(spec.submodule_search_locations))),)
    else:
        assert spec.origin is not None
        origin = Path(spec.origin)
        if origin.suffix != ".py":
            raise PackagingError(f"{top!r} is not Python source ({origin.name}); cannot copy it")
        folder = Path(target)
        if folder.is_dir() and not (folder / "__init__.py").exists():
            # a folder with app.py: its sibling modules are part of the app too
            paths = tuple(sorted(_folder_code(origin.parent)))
        else:
            paths = (origin,)
    return AppSource(app, module, attribute or "app", tuple(p.resolve() for p in paths))


def _folder_code(folder: Path) -> list[Path]:
    """A plain folder's modules and packages (not its caches, local state or data)."""
    found = []
    for child in folder.iterdir():
        if child.name.startswith("."):
            continue
        module = child.is_file() and child.suffix == ".py"
        if module or (child.is_dir() and (child / "__init__.py").is_file()):
            found.append(child)
    return found
