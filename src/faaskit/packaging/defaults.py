"""Settings every target's output shares, in one place so templates and READMEs agree."""

from __future__ import annotations

__all__ = ["FAASKIT_HOME", "LAMBDA_POOL_SIZE", "PYTHON", "SHARED_POOL_SIZE", "environment"]

PYTHON = "3.11"  # faaskit's lowest Python, and every platform's runtime of it
FAASKIT_HOME = "/tmp/.faaskit"  # the deployed code folder is read-only on every platform
# Lambda hands an environment one event at a time (an SQS batch's records run together
# and share these, waiting on the pool when more run than it holds): two suffice.
LAMBDA_POOL_SIZE = 2
# Cloud Functions and Azure Functions may interleave a few requests in one process.
SHARED_POOL_SIZE = 4


def environment(pool_size: int) -> dict[str, str]:
    """The variables every deployed function gets: a writable home, production (a missing
    signing key fails at start-up instead of being generated per instance) and the
    PostgreSQL pool's size."""
    return {
        "FAASKIT_HOME": FAASKIT_HOME,
        "FAASKIT_ENV": "production",
        "FAASKIT_POSTGRES_POOL_SIZE": str(pool_size),
    }
