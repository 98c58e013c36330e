"""Secrets of an app, looked up by name: the environment first, then a file under the data dir.

``FAASKIT_SECRET_JWT_SIGNING_KEY`` or ``.faaskit/secrets/jwt-signing-key`` both answer
``secrets.get("jwt-signing-key")``. Files are created owner-only (0600).
"""

from __future__ import annotations

import os
from pathlib import Path

from faaskit.errors import ConfigurationError

__all__ = ["Secrets"]


class Secrets:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @staticmethod
    def env_name(name: str) -> str:
        return "FAASKIT_SECRET_" + name.upper().replace("-", "_").replace(".", "_")

    def get(self, name: str) -> str | None:
        """The secret's value, or None when neither the environment nor a file has it."""
        value = os.environ.get(self.env_name(name))
        if value:
            return value
        path = self.directory / name
        if path.is_file():
            return path.read_text().strip()
        return None

    def require(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise ConfigurationError(
                f"secret {name!r} is not set: export {self.env_name(name)} or write it to "
                f"{self.directory / name}"
            )
        return value

    def create(self, name: str, value: str) -> str:
        """Store a new secret file (owner-only); if another process won the race, use theirs.

        The value is written to a private file first and then linked into place, so no
        process ever reads the name while it is still empty."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / name
        draft = self.directory / f".{name}.{os.getpid()}.{os.urandom(8).hex()}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as file:
                file.write(value + "\n")
            os.link(draft, path)
        except FileExistsError:
            return path.read_text().strip()
        finally:
            draft.unlink(missing_ok=True)
        return value
