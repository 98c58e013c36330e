"""``GET /mailbox``: what the simulated mail provider sent (admin only)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from faaskit import Context
from shop.app import app
from shop.mail import mailbox


@app.get("/mailbox", auth=["users:write", "users:staff"], tags=["mail"])
async def list_mail(
    ctx: Context, to: Annotated[str | None, Field(max_length=320)] = None
) -> list[dict[str, Any]]:
    """Emails sent so far, oldest first, optionally to one address."""
    letters = (
        await ctx.documents(mailbox).find(to=to) if to else await ctx.documents(mailbox).find()
    )
    return [{"id": doc.id, **doc.data} for doc in letters]
