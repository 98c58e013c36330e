"""Who may read ``GET /metrics``: it tells anyone who can read it how the app is used
(sign-ups, failed logins), so outside development it needs a token.

``FAASKIT_METRICS``: ``public`` (the default when ``FAASKIT_ENV=development``, which
``faaskit dev`` and ``faaskit demo`` set), ``token`` (the default elsewhere: the scraper
sends ``Authorization: Bearer <the app secret metrics-token>``), or ``off`` (404).
"""

from __future__ import annotations

import hmac

from faaskit.errors import AuthError
from faaskit.secrets import Secrets

__all__ = ["METRICS_TOKEN_SECRET", "MetricsAccess"]

METRICS_TOKEN_SECRET = "metrics-token"


class MetricsAccess:
    def __init__(self, mode: str, secrets: Secrets) -> None:
        self.mode = mode
        self.secrets = secrets

    @property
    def exposed(self) -> bool:
        return self.mode != "off"

    def check(self, authorization: str | None) -> None:
        """Nothing when the caller may read the metrics; AuthError (401) otherwise."""
        if self.mode == "public":
            return
        expected = self.secrets.get(METRICS_TOKEN_SECRET)
        if expected is None:
            raise AuthError(
                "/metrics needs a token: set the app secret "
                f"{Secrets.env_name(METRICS_TOKEN_SECRET)}, or FAASKIT_METRICS=public"
            )
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("/metrics needs its bearer token")
        if not hmac.compare_digest(token.strip().encode(), expected.encode()):
            raise AuthError("the metrics token is not accepted", invalid_token=True)
