"""``faaskit package``'s one entry: check the request, find the app, stage the output,
let the target write it, and move it into place."""

from __future__ import annotations

from pathlib import Path

from faaskit.packaging.app_source import AppSource, PackagingError, find_app
from faaskit.packaging.aws_sam import SamOptions
from faaskit.packaging.output import Item, Output, Package, discard, prepare_output, publish

__all__ = ["API_KINDS", "ARCHITECTURES", "TARGETS", "package"]

TARGETS = {
    "aws-sam": "AWS SAM: template.yaml, a Lambda handler, the relay queue and the sweep",
    "gcp": "Google Cloud Functions (2nd gen): main.py and the gcloud commands",
    "azure": "Azure Functions (Python v2 model): function_app.py, host.json, the az commands",
}
API_KINDS = ("http", "rest")
ARCHITECTURES = ("arm64", "x86_64")
# Names the generated entry modules take, or import, beside the app's code.
_OURS = {
    "aws-sam": {"faaskit", "faaskit_handler"},
    "gcp": {"faaskit", "main"},
    "azure": {"faaskit", "function_app"},
}


def package(
    reference: str,
    target: str,
    out: Path,
    *,
    force: bool = False,
    api: str | None = None,
    architecture: str | None = None,
) -> Package:
    """Write ``target``'s artifacts for the app ``reference`` names into ``out``.

    ``api`` (``http`` or ``rest``) and ``architecture`` (``arm64`` or ``x86_64``) are for
    ``aws-sam`` only. ``force`` replaces an ``out`` that an earlier package wrote. Raises
    :class:`PackagingError` (or the loader's AppNotFoundError) with one line for the user.
    """
    if target not in TARGETS:
        raise PackagingError(f"unknown target {target!r}: use {', '.join(TARGETS)}")
    if target != "aws-sam" and (api is not None or architecture is not None):
        raise PackagingError("--api and --arch apply to --target aws-sam only")
    if api is not None and api not in API_KINDS:
        raise PackagingError(f"unknown --api {api!r}: use {' or '.join(API_KINDS)}")
    if architecture is not None and architecture not in ARCHITECTURES:
        raise PackagingError(f"unknown --arch {architecture!r}: use {' or '.join(ARCHITECTURES)}")
    source = find_app(reference)
    clash = source.top_level_names & _OURS[target]
    if clash:
        raise PackagingError(
            f"the app's code brings {', '.join(sorted(clash))}, a name the {target} "
            "package uses itself: rename that module"
        )
    if source.contains(out):
        raise PackagingError(f"--out {out} is inside the app's code, which is copied into it")
    staging = prepare_output(out, force=force)
    try:
        written = Output(staging)
        items = _write(target, source, written, api=api, architecture=architecture)
        publish(staging, out)
    except BaseException:
        discard(staging)
        raise
    files = [out / path.relative_to(staging) for path in written.files]
    return Package(target, out, files, items)


def _write(
    target: str, source: AppSource, out: Output, *, api: str | None, architecture: str | None
) -> list[Item]:
    if target == "aws-sam":
        from faaskit.packaging.aws_sam import write_sam

        options = SamOptions(api=api or "http", architecture=architecture or "arm64")
        return write_sam(source, out, options)
    if target == "gcp":
        from faaskit.packaging.gcp_functions import write_gcp

        return write_gcp(source, out)
    from faaskit.packaging.azure_functions import write_azure

    return write_azure(source, out)
