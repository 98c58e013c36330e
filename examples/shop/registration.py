"""The article's user-registration function: ``POST /register``, public."""

from __future__ import annotations

from faaskit import ConflictError, Context, RateLimit
from shop.app import app, users
from shop.models import BLANK, Registered, Registration
from shop.users import new_user_document, publish_registered

USER_EXISTS = "User already exists"
PER_CLIENT = RateLimit(20, per=60)
PER_ADDRESS = RateLimit(5, per=3600)
"""Sign-ups of one new address: racing duplicates past the taken-email check are bounded
before they reach the store, which admits one of them."""


@app.post("/register", status=201, tags=["registration"], rate_limit=PER_CLIENT)
async def register(body: Registration, ctx: Context) -> Registered:
    """Register a user by email and name."""
    email, name = body.email, body.name.strip(BLANK)
    collection = ctx.documents(users)
    if await collection.find_one(email=email):
        raise ConflictError(USER_EXISTS)
    await ctx.rate_limit("register", email.casefold(), PER_ADDRESS)
    document = new_user_document(ctx, email=email, name=name, company=body.company)
    collection.insert(document["id"], document, conflict=USER_EXISTS)
    publish_registered(ctx, document, source="register")
    ctx.log.info("user registered", extra={"fields": {"user_id": document["id"]}})
    return Registered(message="User registered successfully", user_id=document["id"])
