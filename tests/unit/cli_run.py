"""Run the ``faaskit`` command in-process, as the CLI tests do."""

from __future__ import annotations

import pytest

from faaskit.cli import main


def faaskit(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``faaskit ARGS`` in-process: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    out, err = capsys.readouterr()
    code = exited.value.code
    return (code if isinstance(code, int) else 1), out, err
