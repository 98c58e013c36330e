"""Run the ``faaskit`` command in-process, as the CLI tests do."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from faaskit.cli import main
from faaskit.store.protocol import InvocationRecord


def faaskit(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``faaskit ARGS`` in-process: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    out, err = capsys.readouterr()
    code = exited.value.code
    return (code if isinstance(code, int) else 1), out, err


def store_with_records(url: str, records: Sequence[InvocationRecord]) -> str:
    """A store at ``url`` holding ``records`` (for the commands that read them); ``url``."""
    from faaskit.store import create_store
    from faaskit.store.protocol import RecordInvocations, WriteSet

    async def fill() -> None:
        store = create_store(url)
        await store.open()
        try:
            await store.commit(WriteSet([RecordInvocations([r.row() for r in records])]))
        finally:
            await store.close()

    asyncio.run(fill())
    return url
