"""What each cloud allows an HTTP function, so that ``faaskit dev --target aws`` fails on
the laptop where the cloud would fail.

Each number is the platform's documented default for a synchronous HTTP invocation:

- ``aws``: Lambda's synchronous payload limit, 6 MB each way (6,291,456 bytes), and API
  Gateway's 29 s integration timeout.
- ``gcp``: Cloud Run functions (2nd gen) HTTP requests and answers of at most 32 MiB, and
  the 60 s default timeout.
- ``azure``: Azure Functions' 100 MB request limit (``maxRequestLength``) and the 230 s the
  Azure load balancer waits for an HTTP answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from faaskit.errors import ConfigurationError

__all__ = ["TARGETS", "PlatformLimits", "limits_for"]


@dataclass(frozen=True)
class PlatformLimits:
    name: str
    max_request_bytes: int
    max_response_bytes: int
    timeout_seconds: float


TARGETS: dict[str, PlatformLimits] = {
    "aws": PlatformLimits("AWS Lambda behind API Gateway", 6_291_456, 6_291_456, 29.0),
    "gcp": PlatformLimits("Google Cloud Run functions", 32 * 1024 * 1024, 32 * 1024 * 1024, 60.0),
    "azure": PlatformLimits("Azure Functions", 100 * 1024 * 1024, 100 * 1024 * 1024, 230.0),
}


def limits_for(target: str | None) -> PlatformLimits | None:
    """The limits of ``target`` (None: faaskit's own server, no platform's limits)."""
    if target is None:
        return None
    try:
        return TARGETS[target]
    except KeyError:
        raise ConfigurationError(
            f"unknown target {target!r}: use {', '.join(sorted(TARGETS))}"
        ) from None
