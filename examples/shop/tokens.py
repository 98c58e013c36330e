"""``POST /auth/token``: exchange email and password for a bearer token.

Only an active account gets a token, with the scopes of its access level. Logins are rate
limited per client and per account (the limits hold across processes: they are kept in the
store), so neither one client nor many clients guessing one account's password can keep
argon2 busy for everyone.
"""

from __future__ import annotations

from faaskit import AuthError, Context, RateLimit
from shop.access import SCOPES_BY_ACCESS
from shop.app import ACCOUNT_CLAIM, app, passwords, users
from shop.models import AccessToken, Credentials

INVALID = "Invalid email or password"
NOT_ACTIVE = "Activate the account before signing in"
PER_CLIENT = RateLimit(20, per=60)
PER_ACCOUNT = RateLimit(5, per=60)


@app.post(
    "/auth/token",
    tags=["auth"],
    rate_limit=PER_CLIENT,
    errors={401: f"{INVALID}, or {NOT_ACTIVE.lower()}"},
)
async def issue_token(body: Credentials, ctx: Context) -> AccessToken:
    """A bearer token for an active user with a password; the same answer for any failure."""
    email = body.email.strip()
    await ctx.rate_limit("login", email.casefold(), PER_ACCOUNT)
    doc = await ctx.documents(users).find_one(email=email)
    stored = doc.data.get("password_hash") if doc else None
    if not await passwords.verify(stored, body.password) or doc is None:
        raise AuthError(INVALID)
    if doc.data.get("status") != "active":
        raise AuthError(NOT_ACTIVE)
    scopes = SCOPES_BY_ACCESS.get(doc.data.get("access", "customer"), ())
    token, expires_in = ctx.issue_token(doc.id, scopes, claims={ACCOUNT_CLAIM: True})
    return AccessToken(access_token=token, expires_in=expires_in)
