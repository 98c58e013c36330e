"""Find an App from what a user types: ``module:attribute``, ``module``, or a path such as
``examples/shop`` (a package or a folder with ``app.py``) or ``service.py``."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from faaskit.app import App
from faaskit.errors import ConfigurationError

__all__ = ["AppNotFoundError", "load_app"]


class AppNotFoundError(ConfigurationError):
    """The app reference names no importable App."""


def load_app(reference: str) -> App:
    target, _, attribute = reference.partition(":")
    attribute = attribute or "app"
    module_name = _module_for(target)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and module_name.startswith(error.name):
            raise AppNotFoundError(
                f"cannot find app {reference!r}: no module named {error.name!r}"
            ) from None
        raise AppNotFoundError(f"cannot import {reference!r}: {error}") from error
    found = getattr(module, attribute, None)
    if found is None:
        raise AppNotFoundError(f"{module_name!r} has no attribute {attribute!r}")
    if not isinstance(found, App):
        raise AppNotFoundError(
            f"{module_name}:{attribute} is a {type(found).__name__}, not a faaskit App"
        )
    return found


def _module_for(target: str) -> str:
    path = Path(target)
    looks_like_path = "/" in target or target.endswith(".py") or path.is_dir()
    if not looks_like_path:
        _add_to_path(Path.cwd())
        return target
    if not path.exists():
        raise AppNotFoundError(f"cannot find app {target!r}: no such file or folder")
    path = path.resolve()
    if path.is_file():
        _add_to_path(path.parent)
        return path.stem
    if (path / "__init__.py").is_file():
        _add_to_path(path.parent)
        return path.name
    if (path / "app.py").is_file():
        _add_to_path(path)
        return "app"
    raise AppNotFoundError(f"{target!r} is a folder without __init__.py or app.py")


def _add_to_path(folder: Path) -> None:
    entry = str(folder)
    if entry not in sys.path:
        sys.path.insert(0, entry)
