"""The shop's App and the collections its services share."""

from faaskit import App, JWTAuth
from faaskit.passwords import PasswordHasher

app = App(
    "shop",
    title="faaskit shop",
    description="faaskit's reference system: registration, users, orders.",
    auth=JWTAuth(algorithms=["HS256"], token_ttl=3600),
)

# Both registration paths write here, so an email taken through one is taken for both.
users = app.collection("users", unique=["email"], casefold=["email"])

passwords = PasswordHasher.from_env()
