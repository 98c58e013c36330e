"""Request and response bodies of the shop's user services.

Every string a client sends is bounded, and surrounding spaces are trimmed from names and
profile fields, never from a password.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

Access = Literal["customer", "support", "admin"]
"""An access level: what a user may do. Granted only through ``PUT /users/{id}/access``."""

EMAIL_MAX = 320


def _trimmed(max_length: int, min_length: int = 0) -> StringConstraints:
    return StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length)


Email = Annotated[EmailStr, Field(max_length=EMAIL_MAX)]
Name = Annotated[str, _trimmed(100, min_length=2)]
Company = Annotated[str, _trimmed(200)]
JobRole = Annotated[str, _trimmed(100)]
Phone = Annotated[str, _trimmed(32)]
Bio = Annotated[str, _trimmed(2000)]
Password = Annotated[str, Field(min_length=8, max_length=1024)]
"""Exactly as typed: a password is never trimmed or otherwise altered."""


class Registration(BaseModel):
    """``POST /register``: email and name are required (blank ones too are refused, with the
    article's "Email and name are required")."""

    email: str = Field(max_length=EMAIL_MAX)
    name: str = Field(max_length=100)
    company: Company | None = None


class Registered(BaseModel):
    message: str
    user_id: str


class NewUser(BaseModel):
    """``POST /users``. ``role`` is the user's job role, free text kept in the profile (the
    article's ``profile: {company, role, phone}``), never an access level."""

    model_config = ConfigDict(extra="forbid")

    email: Email
    name: Name
    password: Password
    company: Company | None = None
    role: JobRole | None = None
    phone: Phone | None = None
    newsletter: bool = False


class CreatedUser(BaseModel):
    id: str
    email: str
    name: str
    status: str


class ProfileUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company: Company | None = None
    role: JobRole | None = None
    phone: Phone | None = None
    bio: Bio | None = None


class PreferencesUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    newsletter: bool | None = None
    notifications: bool | None = None
    language: str | None = Field(default=None, min_length=2, max_length=10)


class UserUpdate(BaseModel):
    """``PUT /users/{id}``: any of these; email, password, status and access cannot change
    here."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    profile: ProfileUpdate | None = None
    preferences: PreferencesUpdate | None = None


class AccessChange(BaseModel):
    """``PUT /users/{id}/access``: the access level to grant."""

    model_config = ConfigDict(extra="forbid")

    access: Access


class UserView(BaseModel):
    """What ``GET /users/{id}`` shows: never the password hash or a reset token."""

    id: str
    email: str
    name: str
    status: str
    access: Access = "customer"
    profile: dict[str, Any]
    preferences: dict[str, Any]
    created_at: str
    updated_at: str
    activated_at: str | None = None


class Credentials(BaseModel):
    email: str = Field(max_length=EMAIL_MAX)
    password: str = Field(max_length=1024)


class AccessToken(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class Message(BaseModel):
    message: str
