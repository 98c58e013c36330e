"""A simulated mail provider: it "sends" by writing to the ``mailbox`` collection, so a test
or the demo can show what was sent and when.

Sending is idempotent per invocation (the mailbox id is the context's idempotency key), so
a task that is retried after its email went out does not send it twice. ``fail_next(n)``
is the deterministic failure switch: the next ``n`` sends raise ``MailProviderError``.
"""

from __future__ import annotations

from typing import Any

from faaskit import Context
from shop.app import app

mailbox = app.collection("mailbox")


class MailProviderError(RuntimeError):
    """The provider refused or timed out (retried by the runtime)."""


class SimulatedMailProvider:
    def __init__(self) -> None:
        self._failures = 0

    def fail_next(self, sends: int) -> None:
        self._failures = sends

    async def send(
        self, ctx: Context, *, to: str, subject: str, template: str, data: dict[str, Any]
    ) -> str:
        if self._failures > 0:
            self._failures -= 1
            raise MailProviderError("mail provider unavailable (simulated)")
        message_id = ctx.idempotency_key(template)
        letters = ctx.documents(mailbox)
        if await letters.get(message_id) is None:
            letters.insert(
                message_id,
                {
                    "to": to,
                    "subject": subject,
                    "template": template,
                    "data": data,
                    "sent_at": ctx.now().isoformat(),
                },
            )
        return message_id


provider = SimulatedMailProvider()
