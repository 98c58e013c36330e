"""``faaskit package``: deployable artifacts from an App's declarations, for AWS SAM,
Google Cloud Functions or Azure Functions::

    from faaskit.packaging import package

    written = package("examples/shop", "aws-sam", Path("dist/aws"))
    for item in written.items:
        print(item.kind, item.name, item.detail)

Each target is a module (:mod:`~faaskit.packaging.aws_sam`,
:mod:`~faaskit.packaging.gcp_functions`, :mod:`~faaskit.packaging.azure_functions`); what
they share is finding the app and its code (:mod:`~faaskit.packaging.app_source`) and how
faaskit itself gets in (:mod:`~faaskit.packaging.distribution`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from faaskit.packaging.output import Package

__all__ = ["package"]


def package(reference: str, target: str, out: Path, **options: Any) -> Package:
    """Write ``target``'s artifacts (``aws-sam``, ``gcp``, ``azure``) for the app
    ``reference`` names into ``out``: see :func:`faaskit.packaging.build.package`."""
    # the targets load only when one is asked for: `faaskit --help` stays light
    from faaskit.packaging.build import package as build

    return build(reference, target, out, **options)
