"""Request and response bodies of the shop's user services.

Every string a client sends is bounded, and each model says all it checks in its schema
(the OpenAPI document): a name has no outer spaces rather than having them trimmed, so
what the document allows the service accepts. A password is never altered.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

Access = Literal["customer", "support", "admin"]
"""An access level: what a user may do. Granted only through ``PUT /users/{id}/access``."""

EMAIL_MAX = 320


def checked_email(value: str) -> str:
    """The address as email-validator normalises it (``.test`` domains allowed: they are
    what test suites and fuzzers send)."""
    try:
        return validate_email(value, check_deliverability=False, test_environment=True).normalized
    except EmailNotValidError as error:
        raise ValueError(str(error)) from None


Email = Annotated[
    str,
    Field(max_length=EMAIL_MAX, json_schema_extra={"format": "email"}),
    AfterValidator(checked_email),
]
NOT_BLANK = r"[^ \t\r\n]"
"""Some character that is not a space, a tab or a line break (spelled out: JSON Schema's
regex dialect and pydantic's disagree on what else ``\\s`` means)."""
BLANK = " \t\r\n"
Name = Annotated[
    str,
    Field(min_length=2, max_length=100, pattern=rf"^{NOT_BLANK}([\s\S]*{NOT_BLANK})?$"),
]
"""Two to 100 characters, no outer spaces."""
Company = Annotated[str, Field(max_length=200)]
JobRole = Annotated[str, Field(max_length=100)]
Phone = Annotated[str, Field(max_length=32)]
Bio = Annotated[str, Field(max_length=2000)]
Password = Annotated[str, Field(min_length=8, max_length=1024)]
"""Exactly as typed: a password is never trimmed or otherwise altered."""


def _no_default_in_schema(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def optional() -> Any:
    """A field that may be left out but is never null: the schema says its type alone
    (no null branch, no ``default: null``), and a JSON null is refused like any wrong type."""
    return Field(default=None, json_schema_extra=_no_default_in_schema)


class Change(BaseModel):
    """A change of some fields: at least one (``minProperties: 1``), none of them null."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    @model_validator(mode="after")
    def at_least_one(self) -> Change:
        if not self.model_fields_set:
            raise ValueError(f"send at least one of {', '.join(type(self).model_fields)}")
        return self


class Registration(BaseModel):
    """``POST /register``: an email address and a name that is not blank (the handler
    trims it) are required."""

    email: Email
    name: str = Field(max_length=100, pattern=NOT_BLANK)
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


class UserUpdate(Change):
    """``PUT /users/{id}``: one or more of these; email, password, status and access cannot
    change here."""

    name: Name = optional()
    profile: ProfileUpdate = optional()
    preferences: PreferencesUpdate = optional()


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
