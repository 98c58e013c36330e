"""Request and response bodies of the shop's user services."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field


class Registration(BaseModel):
    """``POST /register``: the article's registration function checks presence itself."""

    email: str | None = None
    name: str | None = None
    company: str | None = Field(default=None, max_length=200)


class Registered(BaseModel):
    message: str
    user_id: str


class NewUser(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    email: EmailStr
    name: str = Field(min_length=2, max_length=100)
    password: str = Field(min_length=8, max_length=1024)
    company: str | None = Field(default=None, max_length=200)
    role: Literal["customer", "admin", "support"] = "customer"
    phone: str | None = Field(default=None, max_length=32)
    newsletter: bool = False


class CreatedUser(BaseModel):
    id: str
    email: str
    name: str
    status: str


class ProfileUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    company: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=32)
    bio: str | None = Field(default=None, max_length=2000)


class PreferencesUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    newsletter: bool | None = None
    notifications: bool | None = None
    language: str | None = Field(default=None, min_length=2, max_length=10)


class UserUpdate(BaseModel):
    """``PUT /users/{id}``: any of these; email, password and status cannot change here."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(default=None, min_length=2, max_length=100)
    profile: ProfileUpdate | None = None
    preferences: PreferencesUpdate | None = None


class UserView(BaseModel):
    """What ``GET /users/{id}`` shows: never the password hash or a reset token."""

    id: str
    email: str
    name: str
    status: str
    role: str
    profile: dict[str, Any]
    preferences: dict[str, Any]
    created_at: str
    updated_at: str
    activated_at: str | None = None


class Credentials(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)


class AccessToken(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class Message(BaseModel):
    message: str
