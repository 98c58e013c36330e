"""The shop's App, the collections its services share, and the rules every protected
route shares: CORS as the article configures it, and accounts that still exist."""

from faaskit import CORS, App, AuthError, Context, JWTAuth, Principal
from faaskit.passwords import PasswordHasher

app = App(
    "shop",
    title="faaskit shop",
    description="faaskit's reference system: registration, users, orders.",
    auth=JWTAuth(algorithms=["HS256"], token_ttl=3600),
    # The article's user service: any origin, its methods and headers, preflights cached 1 h.
    cors=CORS(
        allow_origins=["*"],
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["content-type", "authorization", "x-request-id"],
        max_age=3600,
    ),
)

# Both registration paths write here, so an email taken through one is taken for both.
users = app.collection("users", unique=["email"], casefold=["email"])

passwords = PasswordHasher.from_env()

ACCOUNT_CLAIM = "account"
"""Set on tokens that ``POST /auth/token`` issues for a user's account (service tokens,
such as ``faaskit token``'s, have no account behind them)."""


@app.authorizer
async def account_still_active(principal: Principal, ctx: Context) -> None:
    """A token issued for an account is refused once the account is deleted or no longer
    active, not only when it expires."""
    if principal.claims.get(ACCOUNT_CLAIM) is not True:
        return
    account = await ctx.documents(users).get(principal.subject)
    if account is None or account.data.get("status") != "active":
        raise AuthError("the account behind this token no longer exists", invalid_token=True)
