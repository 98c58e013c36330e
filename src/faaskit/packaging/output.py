"""What a target writes, and where: files staged in a scratch folder beside the output and
moved into place only once every one is written, so a failure leaves no half package."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faaskit.packaging.app_source import PackagingError

__all__ = ["MARKER", "Item", "Output", "Package", "discard", "prepare_output", "publish"]

MARKER = ".faaskit-package"
"""Written into every output folder; ``--force`` replaces only a folder that has it."""


@dataclass(frozen=True)
class Item:
    """One thing the package deploys (a function, a queue, a schedule), for the summary."""

    kind: str
    name: str
    detail: str


@dataclass
class Package:
    """The outcome of packaging: where it went, the files and what they deploy."""

    target: str
    folder: Path
    files: list[Path] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)


class Output:
    """The folder a target writes into (while staged), recording each file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: list[Path] = []

    def text(self, relative: str, content: str) -> Path:
        path = self.folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        self.files.append(path)
        return path

    def json(self, relative: str, data: Mapping[str, Any]) -> Path:
        return self.text(relative, json.dumps(data, indent=2) + "\n")

    def lines(self, relative: str, lines: list[str]) -> Path:
        return self.text(relative, "\n".join(lines) + "\n")

    def copied(self, path: Path) -> None:
        """Record a file or folder copied in by other means."""
        self.files.append(path)


def prepare_output(out: Path, *, force: bool) -> Path:
    """A fresh scratch folder beside ``out``; :func:`publish` moves it to ``out``. Refuses
    an ``out`` that holds anything unless ``force`` and it is an earlier package."""
    if out.exists() and not out.is_dir():
        raise PackagingError(f"--out {out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise PackagingError(f"--out {out} is not empty: choose another folder or add --force")
        if not (out / MARKER).is_file():
            # --force never deletes a folder faaskit did not write
            raise PackagingError(
                f"--out {out} is not empty and was not written by faaskit package; "
                "refusing to replace it even with --force"
            )
    parent = out.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = parent / f".{out.name}.faaskit-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    return staging


def publish(staging: Path, out: Path) -> None:
    """Move the finished ``staging`` folder to ``out``, replacing an earlier package."""
    (staging / MARKER).write_text("written by faaskit package; --force may replace it\n")
    if out.is_dir():
        shutil.rmtree(out)
    os.replace(staging, out)


def discard(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)
