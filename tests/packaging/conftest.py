"""Fixtures of the packaging tests: the shop packaged once per target and session (the
tests read the output, never change it), and moto for the secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from faaskit.packaging import package
from tests.adapters.sqs_support import (  # noqa: F401 (fixtures)
    aws_env_fixture,
    moto_endpoint_fixture,
    sqs_client_fixture,
)
from tests.packaging.support import SHOP


@pytest.fixture(scope="session")
def shop_sam(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sam") / "shop"
    package(str(SHOP), "aws-sam", out)
    return out


@pytest.fixture(scope="session")
def shop_sam_rest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sam-rest") / "shop"
    package(str(SHOP), "aws-sam", out, api="rest", architecture="x86_64")
    return out


@pytest.fixture(scope="session")
def shop_gcp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gcp") / "shop"
    package(str(SHOP), "gcp", out)
    return out


@pytest.fixture(scope="session")
def shop_azure(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("azure") / "shop"
    package(str(SHOP), "azure", out)
    return out
