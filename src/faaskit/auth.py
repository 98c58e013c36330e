"""Bearer JWT authentication: configuration, verification and (for development) minting.

The verifier is strict where PyJWT is lenient: ``exp`` is required, ``none`` is never an
algorithm, the key is chosen by the token's algorithm family (an HS secret is never tried
on an RS/ES token and a public key never as an HMAC secret), and an HS key shorter than
32 bytes is refused at start-up. PyJWT is imported only when auth is first used.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence

from faaskit.errors import AuthError, ConfigurationError, PermissionDeniedError
from faaskit.records import Frozen, setfield

TYPE_CHECKING = False  # typing imports re, which `import faaskit` does without
if TYPE_CHECKING:
    from typing import Any

    from faaskit.secrets import Secrets

__all__ = ["JWTAuth", "Principal", "SigningKey", "TokenIssuer", "TokenVerifier"]

HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
MIN_HMAC_KEY_BYTES = 32
SIGNING_KEY_SECRET = "jwt-signing-key"
_NUMERIC_DATES = ("exp", "nbf", "iat")


class JWTAuth(Frozen):
    """How an app verifies bearer tokens.

    ``secret`` (HS*) defaults to the app secret ``jwt-signing-key``; in development (unless
    ``FAASKIT_ENV=production``) one is generated once under ``.faaskit/secrets/``.
    ``public_key`` is a PEM text or a path to one; ``jwks_file`` a JSON Web Key Set file.
    """

    __slots__ = (  # noqa: RUF023 (the fields in __init__'s order)
        "algorithms",
        "secret",
        "public_key",
        "jwks_file",
        "issuer",
        "audience",
        "leeway",
        "token_ttl",
    )
    algorithms: Sequence[str]
    secret: str | None
    public_key: str | None
    jwks_file: str | None
    issuer: str | None
    audience: str | None
    leeway: float
    token_ttl: int

    def __init__(
        self,
        algorithms: Sequence[str] = ("HS256",),
        secret: str | None = None,
        public_key: str | None = None,
        jwks_file: str | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        leeway: float = 30.0,
        token_ttl: int = 3600,
    ) -> None:
        setfield(self, "algorithms", algorithms)
        setfield(self, "secret", secret)
        setfield(self, "public_key", public_key)
        setfield(self, "jwks_file", jwks_file)
        setfield(self, "issuer", issuer)
        setfield(self, "audience", audience)
        setfield(self, "leeway", leeway)
        setfield(self, "token_ttl", token_ttl)


class Principal(Frozen):
    """Who called: the token's subject, its scopes and every claim."""

    __slots__ = ("subject", "scopes", "claims")  # noqa: RUF023 (fields in order)
    subject: str
    scopes: frozenset[str]
    claims: Mapping[str, Any]

    def __init__(
        self, subject: str, scopes: frozenset[str], claims: Mapping[str, Any] | None = None
    ) -> None:
        setfield(self, "subject", subject)
        setfield(self, "scopes", scopes)
        setfield(self, "claims", {} if claims is None else claims)

    def require(self, scopes: Sequence[str]) -> None:
        missing = [scope for scope in scopes if scope not in self.scopes]
        if missing:
            raise PermissionDeniedError(f"missing scope: {' '.join(missing)}")


class TokenVerifier:
    """Checks ``Authorization: Bearer <jwt>`` headers; build once per app at start-up."""

    def __init__(self, config: JWTAuth, secrets: Secrets) -> None:
        import jwt

        self._jwt = jwt
        self.config = config
        self.algorithms = _allowed_algorithms(config.algorithms)
        self._signing = SigningKey(config, secrets) if self.algorithms & HMAC_ALGORITHMS else None
        self.public_keys = _public_keys(config) if self.algorithms & ASYMMETRIC_ALGORITHMS else {}
        if self.algorithms & ASYMMETRIC_ALGORITHMS and not self.public_keys:
            raise ConfigurationError(
                "RS/ES/PS algorithms are allowed but no public_key or jwks_file is configured"
            )

    @property
    def hmac_key(self) -> bytes | None:
        """The HS key tokens are verified with now (None without an HS algorithm)."""
        return None if self._signing is None else self._signing.current()

    def verify(self, authorization: str | None) -> Principal:
        """The principal of a valid token; AuthError (401) for anything else."""
        if not authorization:
            raise AuthError("missing bearer token")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthError("malformed Authorization header: use 'Bearer <token>'")
        jwt = self._jwt
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthError("malformed token", invalid_token=True) from None
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in self.algorithms:
            raise AuthError(f"token algorithm {algorithm!r} is not accepted", invalid_token=True)
        keys = self._keys_for(algorithm, header.get("kid"))
        try:
            for index, key in enumerate(keys):
                try:
                    claims: dict[str, Any] = jwt.decode(
                        token,
                        key,
                        algorithms=[algorithm],
                        audience=self.config.audience,
                        issuer=self.config.issuer,
                        leeway=self.config.leeway,
                        options={
                            "require": ["exp"],
                            "verify_aud": self.config.audience is not None,
                            "verify_iss": self.config.issuer is not None,
                        },
                    )
                    break
                except jwt.InvalidSignatureError:
                    if index == len(keys) - 1:
                        raise  # the key before a rotation is the only other one tried
        except jwt.ExpiredSignatureError:
            raise AuthError("token expired", invalid_token=True) from None
        except jwt.ImmatureSignatureError:
            raise AuthError("token not yet valid", invalid_token=True) from None
        except jwt.MissingRequiredClaimError as error:
            raise AuthError(f"token has no {error.claim!r} claim", invalid_token=True) from None
        except jwt.InvalidAudienceError:
            raise AuthError("token audience is not accepted", invalid_token=True) from None
        except jwt.InvalidIssuerError:
            raise AuthError("token issuer is not accepted", invalid_token=True) from None
        except jwt.InvalidSignatureError:
            raise AuthError("token signature is invalid", invalid_token=True) from None
        except jwt.PyJWTError:
            raise AuthError("invalid token", invalid_token=True) from None
        for name in _NUMERIC_DATES:
            value = claims.get(name)
            # PyJWT reads "1767225600" as a time; RFC 7519 says a NumericDate is a number.
            if name in claims and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise AuthError(f"token claim {name!r} is not a number", invalid_token=True)
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise AuthError("token has no subject", invalid_token=True)
        return Principal(subject, _scopes(claims), claims)

    def _keys_for(self, algorithm: str, kid: Any) -> list[Any]:
        if algorithm in HMAC_ALGORITHMS:
            assert self._signing is not None  # an HS algorithm is accepted: there is a key
            return self._signing.keys()
        return [self._key_for(algorithm, kid)]

    def _key_for(self, algorithm: str, kid: Any) -> Any:
        if kid in self.public_keys:
            key = self.public_keys[kid]
        elif len(self.public_keys) == 1 and None in self.public_keys:
            key = self.public_keys[None]
        else:
            raise AuthError("token key id is not known", invalid_token=True)
        # An RSA key named in an ES256 token (or the reverse) would make PyJWT raise a
        # TypeError, not a token error: refuse the mismatch as what it is, a bad token.
        if not _fits(algorithm, key):
            raise AuthError(f"token key does not fit algorithm {algorithm}", invalid_token=True)
        return key


class TokenIssuer:
    """Mints HS-signed tokens with the app's key (development, tests, ``faaskit token``,
    and apps that issue their own tokens such as the shop's ``POST /auth/token``)."""

    def __init__(self, config: JWTAuth, secrets: Secrets) -> None:
        algorithms = [a for a in config.algorithms if a in HMAC_ALGORITHMS]
        if not algorithms:
            raise ConfigurationError("minting tokens needs an HS algorithm in JWTAuth.algorithms")
        self.algorithm = algorithms[0]
        self._signing = SigningKey(config, secrets)
        self.config = config

    @property
    def key(self) -> bytes:
        """The HS key tokens are signed with now."""
        return self._signing.current()

    def mint(
        self,
        subject: str,
        scopes: Sequence[str] = (),
        *,
        ttl: int | None = None,
        claims: Mapping[str, Any] | None = None,
    ) -> str:
        import jwt

        now = int(time.time())
        payload: dict[str, Any] = {
            "sub": subject,
            "iat": now,
            "nbf": now,
            "exp": now + (ttl if ttl is not None else self.config.token_ttl),
            "scope": " ".join(scopes),
            **(claims or {}),
        }
        if self.config.issuer:
            payload.setdefault("iss", self.config.issuer)
        if self.config.audience:
            payload.setdefault("aud", self.config.audience)
        return jwt.encode(payload, self._signing.current(), algorithm=self.algorithm)


def _allowed_algorithms(algorithms: Sequence[str]) -> frozenset[str]:
    if isinstance(algorithms, str):
        algorithms = [algorithms]
    allowed = frozenset(algorithms)
    if not allowed:
        raise ConfigurationError("JWTAuth.algorithms is empty")
    unknown = allowed - HMAC_ALGORITHMS - ASYMMETRIC_ALGORITHMS
    if unknown:
        raise ConfigurationError(f"JWT algorithms not accepted: {', '.join(sorted(unknown))}")
    return allowed


class SigningKey:
    """The HS key: ``JWTAuth.secret``, else the app secret ``jwt-signing-key`` read through
    the app's secrets (the chain ``FAASKIT_SECRETS`` names) when it is built, and again
    at most every :data:`KEY_RECHECK` seconds, so a rotated key is picked up (after the
    secrets' TTL for a remote provider). Tokens signed with the key before a rotation
    are still accepted for ``token_ttl`` plus ``leeway`` seconds: they were valid when
    minted. A rotated key that is too short is refused (logged) and the old one kept."""

    def __init__(self, config: JWTAuth, secrets: Secrets) -> None:
        self.config = config
        self.secrets = secrets
        self._text = config.secret or _configured_key(config, secrets)
        self._key = _checked_key(self._text)
        self._previous: bytes | None = None
        self._previous_until = 0.0
        self._checked = time.monotonic()
        if config.secret:
            from faaskit.secrets.redaction import register

            register(config.secret)  # not read through the secrets: register it here

    def current(self) -> bytes:
        if self.config.secret:
            return self._key
        now = time.monotonic()
        if now >= self._checked + KEY_RECHECK:
            self._checked = now
            text = self.secrets.get(SIGNING_KEY_SECRET)
            if text is not None and text != self._text:
                self._rotate(text, now)
        return self._key

    def keys(self) -> list[bytes]:
        """The current key, then the one before a rotation while tokens it signed live."""
        key = self.current()
        if self._previous is not None and time.monotonic() < self._previous_until:
            return [key, self._previous]
        return [key]

    def _rotate(self, text: str, now: float) -> None:
        try:
            key = _checked_key(text)
        except ConfigurationError as error:
            import logging

            logging.getLogger("faaskit.auth").error("%s: the key in use is kept", error.detail)
            return
        self._previous, self._previous_until = self._key, now + _grace(self.config)
        self._text, self._key = text, key


KEY_RECHECK = 1.0
"""At most how often (seconds) the signing key is looked up again: cheap for a local
provider, and a remote one answers from the secrets' cache within its TTL."""


def _grace(config: JWTAuth) -> float:
    return config.token_ttl + config.leeway


def _configured_key(config: JWTAuth, secrets: Secrets) -> str:
    key = secrets.get(SIGNING_KEY_SECRET)
    if key is None:
        if os.environ.get("FAASKIT_ENV") == "production":
            raise ConfigurationError(
                "no JWT signing key: set JWTAuth(secret=...) or "
                + secrets.env_name(SIGNING_KEY_SECRET)
            )
        from secrets import token_urlsafe

        key = secrets.create(SIGNING_KEY_SECRET, token_urlsafe(48))
    return key


def _checked_key(key: str) -> bytes:
    encoded = key.encode()
    if len(encoded) < MIN_HMAC_KEY_BYTES:
        raise ConfigurationError(
            f"the HS256 signing key is {len(encoded)} bytes; use at least {MIN_HMAC_KEY_BYTES}"
        )
    return encoded


def _public_keys(config: JWTAuth) -> dict[Any, Any]:
    import jwt

    keys: dict[Any, Any] = {}
    if config.public_key:
        text = config.public_key
        if "-----BEGIN" not in text:
            text = _read(text, "public_key")
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        try:
            keys[None] = load_pem_public_key(text.encode())
        except ValueError as error:
            raise ConfigurationError(f"public_key is not a PEM public key: {error}") from None
    if config.jwks_file:
        try:
            key_set = jwt.PyJWKSet.from_json(_read(config.jwks_file, "jwks_file"))
        except (jwt.PyJWTError, ValueError) as error:  # ValueError: not JSON at all
            raise ConfigurationError(f"jwks_file {config.jwks_file}: {error}") from None
        for jwk in key_set.keys:
            keys[jwk.key_id] = jwk.key
    return keys


def _fits(algorithm: str, key: Any) -> bool:
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    if algorithm.startswith(("RS", "PS")):
        return isinstance(key, rsa.RSAPublicKey)
    if algorithm.startswith("ES"):
        return isinstance(key, ec.EllipticCurvePublicKey)
    return isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey)


def _read(path: str, what: str) -> str:
    try:
        from pathlib import Path

        return Path(path).read_text()
    except OSError as error:
        raise ConfigurationError(f"{what} {path!r} cannot be read: {error.strerror}") from None


def _scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    scope = claims.get("scope")
    scopes = claims.get("scopes")
    found: set[str] = set()
    if isinstance(scope, str):
        found.update(scope.split())
    if isinstance(scopes, list):
        found.update(s for s in scopes if isinstance(s, str))
    return frozenset(found)
