"""Where an app keeps its state, read from flags and the environment at start-up.

``FAASKIT_DATABASE_URL`` picks the backend (default: SQLite under ``.faaskit/`` in the
working directory); ``FAASKIT_HOME`` moves ``.faaskit/``; ``FAASKIT_LOG_LEVEL`` sets the log
level (INFO); ``FAASKIT_METRICS`` who may read ``/metrics`` (``public``, ``token``, or ``off``:
not served and not kept;
public only by default when ``FAASKIT_ENV=development``); ``FAASKIT_TARGET`` (``aws``,
``gcp``, ``azure``) applies that platform's HTTP limits (:mod:`faaskit.platforms`).
``FAASKIT_SECRETS`` is the chain of secret providers (``env,file``; e.g.
``env,dotenv:.env,aws-secretsmanager:shop/prod/``, see :mod:`faaskit.secrets.configuration`)
and ``FAASKIT_SECRETS_TTL`` how many seconds a remote secret is kept before it is read
again (300; 0 reads it on every lookup).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from faaskit.errors import ConfigurationError

__all__ = ["METRICS_ACCESS", "Settings"]

METRICS_ACCESS = frozenset({"public", "token", "off"})


@dataclass(frozen=True)
class Settings:
    database_url: str
    data_dir: Path
    log_level: str = "INFO"
    metrics: str = "token"
    target: str | None = None
    secrets: str = "env,file"
    secrets_ttl: float = 300.0

    @classmethod
    def load(
        cls,
        *,
        database_url: str | None = None,
        data_dir: str | Path | None = None,
        log_level: str | None = None,
        metrics: str | None = None,
        target: str | None = None,
        secrets: str | None = None,
        secrets_ttl: float | None = None,
    ) -> Settings:
        """Settings from explicit values, else the environment, else the defaults."""
        home = Path(data_dir or os.environ.get("FAASKIT_HOME") or Path.cwd() / ".faaskit")
        home = home.absolute()
        url = (
            database_url or os.environ.get("FAASKIT_DATABASE_URL") or f"sqlite:///{home / 'app.db'}"
        )
        level = (log_level or os.environ.get("FAASKIT_LOG_LEVEL") or "INFO").upper()
        development = os.environ.get("FAASKIT_ENV") == "development"
        access = (
            metrics or os.environ.get("FAASKIT_METRICS") or ("public" if development else "token")
        ).lower()
        if access not in METRICS_ACCESS:
            raise ConfigurationError(
                f"FAASKIT_METRICS={access!r}: use {', '.join(sorted(METRICS_ACCESS))}"
            )
        platform = (target or os.environ.get("FAASKIT_TARGET") or "").lower() or None
        if platform is not None:
            from faaskit.platforms import limits_for

            limits_for(platform)  # an unknown target fails here, at start-up
        chain, ttl = _secrets(secrets, secrets_ttl)
        return cls(
            database_url=url,
            data_dir=home,
            log_level=level,
            metrics=access,
            target=platform,
            secrets=chain,
            secrets_ttl=ttl,
        )

    @property
    def secrets_dir(self) -> Path:
        return self.data_dir / "secrets"


def _secrets(chain: str | None, ttl: float | None) -> tuple[str, float]:
    """The secret providers' chain and TTL, checked (their syntax: a provider kind an app
    registers later is checked when the runtime builds the chain)."""
    spec = (chain or os.environ.get("FAASKIT_SECRETS") or "env,file").strip()
    from faaskit.secrets.configuration import parse_chain

    parse_chain(spec)
    if ttl is None:
        text = os.environ.get("FAASKIT_SECRETS_TTL", "").strip() or "300"
        try:
            ttl = float(text)
        except ValueError:
            raise ConfigurationError(
                f"FAASKIT_SECRETS_TTL={text!r}: use a number of seconds (0: no cache)"
            ) from None
    if not ttl >= 0 or ttl == float("inf"):
        raise ConfigurationError(f"FAASKIT_SECRETS_TTL={ttl!r}: use 0 or more seconds")
    return spec, ttl
