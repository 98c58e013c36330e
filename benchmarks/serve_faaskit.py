"""Serve a faaskit contender the way faaskit serves: ``faaskit.serving.uvicorn_config``.

    python benchmarks/serve_faaskit.py --factory servers:faaskit_hello --host H --port P

uvicorn's ``--http`` takes an import string, but faaskit's protocol needs its header limits
as an argument, so ``uvicorn --http ...`` cannot build it: this launcher does what
``faaskit dev`` does (``LimitedHttpToolsProtocol`` with the default limits, no ``server``
header) with the flags every contender gets (``harness.UVICORN_FLAGS``: one worker, uvloop,
no access log, log level warning).
"""

from __future__ import annotations

import argparse
import sys

# faaskit's bytecode is cached as every other contender's is (pip wrote theirs at install):
# with PYTHONDONTWRITEBYTECODE in the caller's environment, a faaskit server alone would
# compile its sources again in every start-up measured. The first run writes the .pyc files
# (into the source tree's __pycache__ folders, as an editable install does).
sys.dont_write_bytecode = False

from faaskit.serving import run_server, uvicorn_config  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factory", required=True, help="module:callable, an app factory")
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    config = uvicorn_config(
        args.factory,
        factory=True,
        host=args.host,
        port=args.port,
        workers=1,
        loop="uvloop",
        access_log=False,
        log_level="warning",
    )
    run_server(config)


if __name__ == "__main__":
    main()
