"""One pricing function per platform: each turns a :class:`~faaskit.cost.workload.Workload`
and a :class:`~faaskit.cost.catalog.Catalog` into a :class:`~faaskit.cost.bill.Bill` of line
items, with or without the free tier."""

from __future__ import annotations

from collections.abc import Callable

from faaskit.cost.bill import Bill
from faaskit.cost.platforms.aws import aws_lambda
from faaskit.cost.platforms.azure import azure_consumption, azure_flex
from faaskit.cost.platforms.gcp import cloud_run

__all__ = ["FUNCTION_PLATFORMS", "PlatformPricer"]

PlatformPricer = Callable[..., Bill]

FUNCTION_PLATFORMS: dict[str, Callable[..., Bill]] = {
    "aws-lambda": aws_lambda,
    "azure-consumption": azure_consumption,
    "azure-flex": azure_flex,
    "cloud-run": cloud_run,
}
"""The pay-per-use platforms by name; ``vm`` is priced by :mod:`faaskit.cost.model`."""
