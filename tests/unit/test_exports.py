"""What ``faaskit`` exports is its public API: additions and removals must be deliberate."""

from __future__ import annotations

import importlib.metadata

import faaskit

EXPECTED = {
    "CORS",
    "Aggregate",
    "App",
    "AuthError",
    "Backoff",
    "BadRequestError",
    "Body",
    "CircuitBreaker",
    "CircuitOpenError",
    "Collection",
    "CollectionSpec",
    "ConcurrencyError",
    "ConfigurationError",
    "ConflictError",
    "Context",
    "Document",
    "Event",
    "FaaskitError",
    "JWTAuth",
    "MalformedJSONError",
    "NotFoundError",
    "PermissionDeniedError",
    "Principal",
    "Query",
    "RateLimit",
    "Recorded",
    "Response",
    "Route",
    "Search",
    "TooManyRequestsError",
    "ValidationError",
    "Pending",
    "Saga",
    "SagaState",
    "StepFailed",
    "StepNotPendingError",
    "__version__",
    "retry",
}


def test_all_is_exactly_the_public_api() -> None:
    assert set(faaskit.__all__) == EXPECTED
    assert len(faaskit.__all__) == len(set(faaskit.__all__)), "duplicates in __all__"


def test_every_exported_name_exists() -> None:
    missing = [name for name in faaskit.__all__ if not hasattr(faaskit, name)]

    assert missing == []


def test_star_import_gives_exactly_the_public_api() -> None:
    namespace: dict[str, object] = {}
    exec("from faaskit import *", namespace)

    assert set(namespace) - {"__builtins__"} == EXPECTED


def test_exported_errors_share_one_root() -> None:
    errors = [
        getattr(faaskit, name)
        for name in faaskit.__all__
        if name.endswith("Error") and name != "FaaskitError"
    ]

    assert errors
    assert all(issubclass(error, faaskit.FaaskitError) for error in errors)


def test_version_matches_the_installed_distribution() -> None:
    assert faaskit.__version__ == importlib.metadata.version("faaskit")
