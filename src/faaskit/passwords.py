"""Password hashing with argon2id, off the event loop.

The defaults are OWASP's minimum for argon2id (19 MiB of memory, 2 iterations, 1 lane,
about 50 ms a hash here); stronger settings are welcome, weaker ones are refused::

    hasher = PasswordHasher()                    # or PasswordHasher.from_env()
    stored = await hasher.hash("correct horse")
    assert await hasher.verify(stored, "correct horse")
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING

from faaskit.errors import ConfigurationError

if TYPE_CHECKING:
    import argon2

__all__ = ["PasswordHasher"]

MIN_MEMORY_KIB = 19 * 1024
MIN_ITERATIONS = 2


class PasswordHasher:
    def __init__(
        self,
        *,
        memory_kib: int = MIN_MEMORY_KIB,
        iterations: int = MIN_ITERATIONS,
        parallelism: int = 1,
    ) -> None:
        if memory_kib < MIN_MEMORY_KIB or iterations < MIN_ITERATIONS or parallelism < 1:
            raise ConfigurationError(
                f"argon2id needs at least {MIN_MEMORY_KIB} KiB of memory and {MIN_ITERATIONS} "
                f"iterations (OWASP); got {memory_kib} KiB and {iterations}"
            )
        self.memory_kib = memory_kib
        self.iterations = iterations
        self.parallelism = parallelism
        self._hasher: argon2.PasswordHasher | None = None
        self._dummy: str | None = None

    @classmethod
    def from_env(cls) -> PasswordHasher:
        """Parameters from ``FAASKIT_ARGON2_MEMORY_KIB`` and ``FAASKIT_ARGON2_ITERATIONS``."""
        try:
            return cls(
                memory_kib=int(os.environ.get("FAASKIT_ARGON2_MEMORY_KIB", MIN_MEMORY_KIB)),
                iterations=int(os.environ.get("FAASKIT_ARGON2_ITERATIONS", MIN_ITERATIONS)),
            )
        except ValueError as error:
            raise ConfigurationError(f"argon2 settings must be integers: {error}") from None

    @property
    def hasher(self) -> argon2.PasswordHasher:
        if self._hasher is None:
            import argon2

            self._hasher = argon2.PasswordHasher(
                time_cost=self.iterations,
                memory_cost=self.memory_kib,
                parallelism=self.parallelism,
                type=argon2.Type.ID,
            )
        return self._hasher

    async def hash(self, password: str) -> str:
        """An encoded argon2id hash (salt and parameters included)."""
        return await asyncio.to_thread(self.hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        """True when ``password`` matches ``stored``. With ``stored=None`` (an unknown
        user) it still spends a hash's time, so timing does not reveal who exists."""
        return await asyncio.to_thread(self._verify, stored, password)

    def _verify(self, stored: str | None, password: str) -> bool:
        from argon2.exceptions import InvalidHashError, VerificationError

        known = stored is not None
        if stored is None:
            if self._dummy is None:
                self._dummy = self.hasher.hash("faaskit-timing-equaliser")
            stored = self._dummy
        try:
            return bool(self.hasher.verify(stored, password)) and known
        except (VerificationError, InvalidHashError):
            return False
