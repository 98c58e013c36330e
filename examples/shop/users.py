"""The users microservice: create, read, update, delete and activate users, and grant
access levels.

Every route needs a bearer token: reads ``users:read``, writes ``users:write``. A user may
read and change only their own account unless the token has the staff scope
``users:staff``; access levels are granted only through ``PUT /users/{id}/access``, which
needs ``users:admin`` and every scope of the level it grants, so no caller can obtain a
scope it does not hold.
"""

from __future__ import annotations

import uuid
from typing import Any

from faaskit import (
    ConflictError,
    Context,
    Document,
    NotFoundError,
    PermissionDeniedError,
)
from shop.access import ADMIN, READ, SCOPES_BY_ACCESS, STAFF, WRITE
from shop.app import app, passwords, users
from shop.models import AccessChange, CreatedUser, Message, NewUser, UserUpdate, UserView

USER_EXISTS = "User already exists"
USER_NOT_FOUND = "User not found"
NOT_YOURS = "You can only see and change your own account"


def new_user_document(
    ctx: Context,
    *,
    email: str,
    name: str,
    company: str | None = None,
    role: str | None = None,
    phone: str | None = None,
    newsletter: bool = False,
    password_hash: str | None = None,
) -> dict[str, Any]:
    now = ctx.now().isoformat()
    return {
        "id": str(uuid.uuid4()),
        "email": email,
        "name": name,
        "status": "pending",
        "access": "customer",
        "password_hash": password_hash,
        "profile": {"company": company, "role": role, "phone": phone},
        "preferences": {"newsletter": newsletter, "notifications": True, "language": "en"},
        "created_at": now,
        "updated_at": now,
        "activated_at": None,
    }


def publish_registered(ctx: Context, document: dict[str, Any], *, source: str) -> None:
    """``user.registered``, committed with the user (keyed by user for ordered consumers)."""
    ctx.publish(
        "user.registered",
        {
            "user_id": document["id"],
            "email": document["email"],
            "name": document["name"],
            "source": source,
        },
        key=document["id"],
        message_id=f"{document['id']}-registered",
    )


def user_view(doc: Document) -> UserView:
    return UserView.model_validate(doc.data)


async def load_user(ctx: Context, user_id: str) -> Document:
    """The user (404 if unknown), if it is the caller's own account or the caller is staff
    (403 otherwise)."""
    if ctx.subject != user_id and STAFF not in ctx.scopes:
        raise PermissionDeniedError(NOT_YOURS)
    doc = await ctx.documents(users).get(user_id)
    if doc is None:
        raise NotFoundError(USER_NOT_FOUND)
    return doc


@app.post("/users", status=201, auth=[WRITE, STAFF], tags=["users"])
async def create_user(body: NewUser, ctx: Context) -> CreatedUser:
    """Create a user with a password; the user starts ``pending``, with customer access."""
    collection = ctx.documents(users)
    if await collection.find_one(email=body.email):
        raise ConflictError(USER_EXISTS)
    document = new_user_document(
        ctx,
        email=body.email,
        name=body.name,
        company=body.company,
        role=body.role,
        phone=body.phone,
        newsletter=body.newsletter,
        password_hash=await passwords.hash(body.password),
    )
    collection.insert(document["id"], document, conflict=USER_EXISTS)
    publish_registered(ctx, document, source="users")
    return CreatedUser(id=document["id"], email=body.email, name=body.name, status="pending")


@app.get("/users/{user_id}", auth=READ, tags=["users"])
async def get_user(user_id: str, ctx: Context) -> UserView:
    """A user's profile and preferences."""
    return user_view(await load_user(ctx, user_id))


@app.put("/users/{user_id}", auth=WRITE, tags=["users"])
async def update_user(user_id: str, body: UserUpdate, ctx: Context) -> UserView:
    """Change the name, profile or preferences; fields left out stay as they are."""
    changes = body.model_dump(exclude_unset=True)
    doc = await load_user(ctx, user_id)
    data = dict(doc.data)
    if "name" in changes:
        data["name"] = changes["name"]
    for section in ("profile", "preferences"):
        if changes.get(section):
            data[section] = {**data.get(section, {}), **changes[section]}
    data["updated_at"] = ctx.now().isoformat()
    updated = ctx.documents(users).update(user_id, data, expected_version=doc.version)
    return user_view(updated)


@app.delete("/users/{user_id}", status=204, auth=WRITE, tags=["users"])
async def delete_user(user_id: str, ctx: Context) -> None:
    """Delete a user."""
    doc = await load_user(ctx, user_id)
    ctx.documents(users).delete(user_id, expected_version=doc.version)


@app.post("/users/{user_id}/activate", auth=WRITE, tags=["users"])
async def activate_user(user_id: str, ctx: Context) -> Message:
    """Activate a pending user (activating an active user changes nothing)."""
    doc = await load_user(ctx, user_id)
    if doc.data["status"] != "active":
        now = ctx.now().isoformat()
        data = {**doc.data, "status": "active", "activated_at": now, "updated_at": now}
        ctx.documents(users).update(user_id, data, expected_version=doc.version)
        ctx.publish(
            "user.activated",
            {"user_id": user_id, "email": data["email"], "name": data["name"]},
            key=user_id,
            message_id=f"{user_id}-activated",
        )
    return Message(message="User activated successfully")


@app.put("/users/{user_id}/access", auth=[WRITE, ADMIN], tags=["users"])
async def grant_access(user_id: str, body: AccessChange, ctx: Context) -> UserView:
    """Set a user's access level; the caller must hold every scope of that level."""
    missing = set(SCOPES_BY_ACCESS[body.access]) - ctx.scopes
    if missing:
        raise PermissionDeniedError(
            f"granting {body.access} needs the scopes it grants: {' '.join(sorted(missing))}"
        )
    doc = await load_user(ctx, user_id)
    data = {**doc.data, "access": body.access, "updated_at": ctx.now().isoformat()}
    return user_view(ctx.documents(users).update(user_id, data, expected_version=doc.version))
