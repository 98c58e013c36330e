"""``POST /auth/token``: exchange email and password for a bearer token."""

from __future__ import annotations

from faaskit import AuthError, Context
from shop.app import app, passwords, users
from shop.models import AccessToken, Credentials

INVALID = "Invalid email or password"
SCOPES_BY_ROLE = {
    "admin": ("users:read", "users:write", "orders:read", "orders:write", "orders:admin"),
    "support": ("users:read",),
    "customer": ("users:read", "orders:read", "orders:write"),
}


@app.post("/auth/token", tags=["auth"])
async def issue_token(body: Credentials, ctx: Context) -> AccessToken:
    """A bearer token for a user with a password; the same answer for any failure."""
    doc = await ctx.documents(users).find_one(email=body.email.strip())
    stored = doc.data.get("password_hash") if doc else None
    if not await passwords.verify(stored, body.password) or doc is None:
        raise AuthError(INVALID)
    scopes = SCOPES_BY_ROLE.get(doc.data.get("role", "customer"), ())
    token, expires_in = ctx.issue_token(doc.id, scopes)
    return AccessToken(access_token=token, expires_in=expires_in)
