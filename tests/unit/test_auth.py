"""JWT bearer auth: the verifier (faaskit.auth) and what a caller sees over HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from faaskit import App, AuthError, ConfigurationError, Context, JWTAuth, PermissionDeniedError
from faaskit.auth import SIGNING_KEY_SECRET, Principal, TokenIssuer, TokenVerifier
from faaskit.config import Settings
from faaskit.runtime.runtime import Runtime
from faaskit.secrets import Secrets

HS_SECRET = "an-hs256-test-secret-that-is-long-enough-0123456789"
ISSUER = "https://issuer.test"
AUDIENCE = "faaskit-tests"


@dataclass(frozen=True)
class Keys:
    rsa_private: rsa.RSAPrivateKey
    rsa_public_pem: bytes
    ec_private: ec.EllipticCurvePrivateKey
    ec_public_pem: bytes
    jwks_private: rsa.RSAPrivateKey
    jwks_file: Path


def _public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    rsa_private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_private = ec.generate_private_key(ec.SECP256R1())
    jwks_private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_jwk = RSAAlgorithm.to_jwk(jwks_private.public_key(), as_dict=True)
    ec_jwk = ECAlgorithm.to_jwk(ec_private.public_key(), as_dict=True)
    jwks = {
        "keys": [
            {**rsa_jwk, "kid": "rsa-1", "alg": "RS256", "use": "sig"},
            {**ec_jwk, "kid": "ec-1", "alg": "ES256", "use": "sig"},
        ]
    }
    jwks_file = tmp_path_factory.mktemp("jwks") / "jwks.json"
    jwks_file.write_text(json.dumps(jwks))
    return Keys(
        rsa_private,
        _public_pem(rsa_private),
        ec_private,
        _public_pem(ec_private),
        jwks_private,
        jwks_file,
    )


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(Secrets.env_name(SIGNING_KEY_SECRET), raising=False)
    monkeypatch.delenv("FAASKIT_ENV", raising=False)


@pytest.fixture
def secrets(tmp_path: Path) -> Secrets:
    return Secrets(tmp_path / "secrets")


@pytest.fixture
def backend_url(tmp_path: Path) -> str:
    """Auth does not depend on the backend: serve these apps on SQLite only."""
    return f"sqlite:///{tmp_path / 'app.db'}"


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    payload: dict[str, Any] = {
        "sub": "user-1",
        "iat": now,
        "exp": now + 600,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "scope": "items:read",
    }
    payload.update(overrides)
    return {k: v for k, v in payload.items() if v is not None}


def hs256(payload: dict[str, Any] | None = None, secret: str = HS_SECRET) -> str:
    return jwt.encode(payload or claims(), secret, algorithm="HS256")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header: dict[str, Any], payload: dict[str, Any], hmac_key: bytes | None) -> str:
    """A token assembled by hand, as an attacker would (PyJWT refuses to make these)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    if hmac_key is None:
        return signing_input + "."
    signature = hmac.new(hmac_key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def bearer(token: str) -> str:
    return f"Bearer {token}"


HS_AUTH = JWTAuth(secret=HS_SECRET, issuer=ISSUER, audience=AUDIENCE)


def _tampered() -> str:
    header, _, signature = hs256().split(".")
    return f"{header}.{_b64(json.dumps(claims(sub='admin')).encode())}.{signature}"


# Each case builds an Authorization header (None: no header) that HS_AUTH must refuse.
RejectedCase = Callable[[Keys], str | None]
REJECTED_BY_HS_APP: dict[str, RejectedCase] = {
    "no-token": lambda k: None,
    "bearer-without-token": lambda k: "Bearer",
    "not-bearer-scheme": lambda k: "Basic dXNlcjpwYXNz",
    "garbage": lambda k: bearer("not-a-jwt"),
    "garbage-three-parts": lambda k: bearer("abc.def.ghi"),
    "wrong-signature": lambda k: bearer(hs256(secret="another-secret-that-is-long-enough-42")),
    "alg-none": lambda k: bearer(hand_made({"alg": "none", "typ": "JWT"}, claims(), None)),
    "alg-none-uppercase": lambda k: bearer(hand_made({"alg": "NONE"}, claims(), None)),
    "alg-not-a-string": lambda k: bearer(
        hand_made({"alg": ["HS256"], "typ": "JWT"}, claims(), HS_SECRET.encode())
    ),
    "rs256-token": lambda k: bearer(jwt.encode(claims(), k.rsa_private, algorithm="RS256")),
    "no-exp": lambda k: bearer(hs256(claims(exp=None))),
    "expired": lambda k: bearer(hs256(claims(exp=int(time.time()) - 3600))),
    "nbf-in-the-future": lambda k: bearer(hs256(claims(nbf=int(time.time()) + 3600))),
    "wrong-audience": lambda k: bearer(hs256(claims(aud="someone-else"))),
    "no-audience": lambda k: bearer(hs256(claims(aud=None))),
    "wrong-issuer": lambda k: bearer(hs256(claims(iss="https://evil.test"))),
    "no-subject": lambda k: bearer(hs256(claims(sub=None))),
    "tampered-payload": lambda k: bearer(_tampered()),
}


# --- the verifier --------------------------------------------------------------------------


def test_valid_hs256_token_gives_its_principal(secrets: Secrets) -> None:
    verifier = TokenVerifier(HS_AUTH, secrets)

    principal = verifier.verify(bearer(hs256(claims(scope="items:read items:write"))))

    assert principal.subject == "user-1"
    assert principal.scopes == frozenset({"items:read", "items:write"})
    assert principal.claims["iss"] == ISSUER


@pytest.mark.parametrize("case", list(REJECTED_BY_HS_APP))
def test_verifier_rejects_bad_tokens_with_auth_error(
    case: str, keys: Keys, secrets: Secrets
) -> None:
    verifier = TokenVerifier(HS_AUTH, secrets)

    with pytest.raises(AuthError) as caught:
        verifier.verify(REJECTED_BY_HS_APP[case](keys))

    assert type(caught.value) is AuthError


def test_verifier_accepts_a_token_expired_within_the_leeway(secrets: Secrets) -> None:
    verifier = TokenVerifier(HS_AUTH, secrets)

    principal = verifier.verify(bearer(hs256(claims(exp=int(time.time()) - 5))))

    assert principal.subject == "user-1"


@pytest.mark.parametrize(
    "token_claims",
    [{"scope": "a b"}, {"scopes": ["a", "b"], "scope": None}, {"scope": "a", "scopes": ["b"]}],
    ids=["scope-string", "scopes-list", "both"],
)
def test_scopes_are_read_from_scope_string_and_scopes_list(
    token_claims: dict[str, Any], secrets: Secrets
) -> None:
    verifier = TokenVerifier(HS_AUTH, secrets)

    principal = verifier.verify(bearer(hs256(claims(**token_claims))))

    assert principal.scopes == frozenset({"a", "b"})


def test_missing_scope_is_permission_denied() -> None:
    principal = Principal("user-1", frozenset({"items:read"}))

    principal.require(["items:read"])
    with pytest.raises(PermissionDeniedError, match="items:write"):
        principal.require(["items:read", "items:write"])


def test_rs256_token_verifies_with_a_pem_public_key(keys: Keys, secrets: Secrets) -> None:
    verifier = TokenVerifier(
        JWTAuth(algorithms=["RS256"], public_key=keys.rsa_public_pem.decode()), secrets
    )

    principal = verifier.verify(bearer(jwt.encode(claims(), keys.rsa_private, algorithm="RS256")))

    assert principal.subject == "user-1"
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(AuthError):
        verifier.verify(bearer(jwt.encode(claims(), other, algorithm="RS256")))


def test_public_key_may_be_a_path_to_a_pem_file(
    keys: Keys, secrets: Secrets, tmp_path: Path
) -> None:
    pem = tmp_path / "public.pem"
    pem.write_bytes(keys.rsa_public_pem)
    verifier = TokenVerifier(JWTAuth(algorithms=["RS256"], public_key=str(pem)), secrets)

    principal = verifier.verify(bearer(jwt.encode(claims(), keys.rsa_private, algorithm="RS256")))

    assert principal.subject == "user-1"


def test_tokens_verify_against_a_jwks_file_by_key_id(keys: Keys, secrets: Secrets) -> None:
    auth = JWTAuth(algorithms=["RS256", "ES256"], jwks_file=str(keys.jwks_file))
    verifier = TokenVerifier(auth, secrets)
    rs = jwt.encode(claims(), keys.jwks_private, algorithm="RS256", headers={"kid": "rsa-1"})
    es = jwt.encode(claims(), keys.ec_private, algorithm="ES256", headers={"kid": "ec-1"})

    assert verifier.verify(bearer(rs)).subject == "user-1"
    assert verifier.verify(bearer(es)).subject == "user-1"
    unknown = jwt.encode(claims(), keys.jwks_private, algorithm="RS256", headers={"kid": "x"})
    with pytest.raises(AuthError, match="key id"):
        verifier.verify(bearer(unknown))
    swapped = jwt.encode(claims(), keys.jwks_private, algorithm="RS256", headers={"kid": "ec-1"})
    with pytest.raises(AuthError):
        verifier.verify(bearer(swapped))


def test_es256_token_verifies_with_a_pem_public_key(keys: Keys, secrets: Secrets) -> None:
    verifier = TokenVerifier(
        JWTAuth(algorithms=["ES256"], public_key=keys.ec_public_pem.decode()), secrets
    )

    principal = verifier.verify(bearer(jwt.encode(claims(), keys.ec_private, algorithm="ES256")))

    assert principal.subject == "user-1"


def _hs256_signed_with_public_pem(keys: Keys) -> str:
    return hand_made({"alg": "HS256", "typ": "JWT"}, claims(), keys.rsa_public_pem)


def test_hs256_token_signed_with_the_rsa_public_key_is_rejected(
    keys: Keys, secrets: Secrets
) -> None:
    rs_only = TokenVerifier(
        JWTAuth(algorithms=["RS256"], public_key=keys.rsa_public_pem.decode()), secrets
    )
    both = TokenVerifier(
        JWTAuth(
            algorithms=["HS256", "RS256"], secret=HS_SECRET, public_key=keys.rsa_public_pem.decode()
        ),
        secrets,
    )

    for verifier in (rs_only, both):
        with pytest.raises(AuthError):
            verifier.verify(bearer(_hs256_signed_with_public_pem(keys)))


def test_hs_key_shorter_than_32_bytes_is_refused_at_start(secrets: Secrets) -> None:
    with pytest.raises(ConfigurationError, match="32"):
        TokenVerifier(JWTAuth(secret="x" * 31), secrets)
    with pytest.raises(ConfigurationError, match="32"):
        TokenIssuer(JWTAuth(secret="x" * 31), secrets)


async def test_runtime_with_a_short_hs_key_fails_to_start(tmp_path: Path) -> None:
    app = App("short-key", auth=JWTAuth(secret="too-short"))

    @app.get("/me", auth=True)
    async def me(ctx: Context) -> str:
        return ctx.subject

    runtime = Runtime(
        app, Settings.load(database_url=f"sqlite:///{tmp_path / 'app.db'}", data_dir=tmp_path)
    )
    with pytest.raises(ConfigurationError, match="32"):
        await runtime.start()
    assert not runtime.started


@pytest.mark.parametrize("algorithms", [["none"], ["HS256", "none"], ["None"], []])
def test_none_or_unknown_algorithms_are_refused(algorithms: list[str], secrets: Secrets) -> None:
    with pytest.raises(ConfigurationError):
        TokenVerifier(JWTAuth(algorithms=algorithms, secret=HS_SECRET), secrets)


def test_asymmetric_algorithm_without_a_key_is_refused(secrets: Secrets) -> None:
    with pytest.raises(ConfigurationError, match="public_key"):
        TokenVerifier(JWTAuth(algorithms=["RS256"]), secrets)


def test_unreadable_key_files_are_configuration_errors(secrets: Secrets, tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "bad.pem").write_text("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----")

    with pytest.raises(ConfigurationError, match="jwks_file"):
        TokenVerifier(JWTAuth(algorithms=["RS256"], jwks_file=str(tmp_path / "bad.json")), secrets)
    with pytest.raises(ConfigurationError, match="public_key"):
        TokenVerifier(JWTAuth(algorithms=["RS256"], public_key=str(tmp_path / "none.pem")), secrets)
    with pytest.raises(ConfigurationError, match="public_key"):
        TokenVerifier(JWTAuth(algorithms=["RS256"], public_key=str(tmp_path / "bad.pem")), secrets)


def test_dev_key_is_generated_once_owner_only_and_reused(secrets: Secrets) -> None:
    first = TokenIssuer(JWTAuth(), secrets)
    key_file = secrets.directory / SIGNING_KEY_SECRET

    assert key_file.is_file()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key_file.read_text().strip().encode()) >= 32
    # a later start (a new process, another worker) uses the same key
    verifier = TokenVerifier(JWTAuth(), Secrets(secrets.directory))
    assert verifier.hmac_key == first.key
    assert verifier.verify(bearer(first.mint("user-1", ["a"]))).scopes == frozenset({"a"})


def test_signing_key_from_the_environment_wins_and_writes_no_file(
    secrets: Secrets, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(Secrets.env_name(SIGNING_KEY_SECRET), HS_SECRET)

    verifier = TokenVerifier(JWTAuth(), secrets)

    assert verifier.hmac_key == HS_SECRET.encode()
    assert not (secrets.directory / SIGNING_KEY_SECRET).exists()


def test_production_without_a_signing_key_is_refused(
    secrets: Secrets, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAASKIT_ENV", "production")

    with pytest.raises(ConfigurationError, match="signing key"):
        TokenVerifier(JWTAuth(), secrets)
    assert not (secrets.directory / SIGNING_KEY_SECRET).exists()


# --- over HTTP -----------------------------------------------------------------------------


def make_app(auth: JWTAuth) -> App:
    app = App("authapp", auth=auth)

    @app.get("/public")
    async def public() -> dict[str, str]:
        return {"hello": "world"}

    @app.get("/me", auth=True)
    async def me(ctx: Context) -> dict[str, Any]:
        assert ctx.principal is not None
        return {"sub": ctx.subject, "scopes": sorted(ctx.principal.scopes)}

    @app.get("/admin", auth="admin:write")
    async def admin(ctx: Context) -> dict[str, str]:
        return {"sub": ctx.subject}

    return app


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 401


@pytest.mark.parametrize("case", list(REJECTED_BY_HS_APP))
def test_bad_tokens_get_401_with_a_bearer_challenge(
    case: str, keys: Keys, live_server: Callable[[App], Any]
) -> None:
    server = live_server(make_app(HS_AUTH))
    authorization = REJECTED_BY_HS_APP[case](keys)
    headers = {} if authorization is None else {"Authorization": authorization}

    response = httpx.get(f"{server.url}/me", headers=headers)

    assert_unauthorized(response)
    token = (authorization or "").partition(" ")[2]
    assert len(token) < 8 or token not in response.text


def test_valid_token_reaches_the_handler_and_public_route_needs_none(
    live_server: Callable[[App], Any],
) -> None:
    server = live_server(make_app(HS_AUTH))

    response = httpx.get(f"{server.url}/me", headers={"Authorization": bearer(hs256())})

    assert response.status_code == 200
    assert response.json() == {"sub": "user-1", "scopes": ["items:read"]}
    assert httpx.get(f"{server.url}/public").status_code == 200


def test_missing_scope_gets_403(live_server: Callable[[App], Any]) -> None:
    server = live_server(make_app(HS_AUTH))

    response = httpx.get(f"{server.url}/admin", headers={"Authorization": bearer(hs256())})

    assert response.status_code == 403
    assert "insufficient_scope" in response.headers["www-authenticate"]
    assert "admin:write" in response.json()["detail"]


@pytest.mark.parametrize(
    "token_claims",
    [{"scope": "items:read admin:write"}, {"scope": None, "scopes": ["admin:write"]}],
    ids=["scope-string", "scopes-list"],
)
def test_required_scope_is_found_in_scope_string_or_scopes_list(
    token_claims: dict[str, Any], live_server: Callable[[App], Any]
) -> None:
    server = live_server(make_app(HS_AUTH))
    token = hs256(claims(**token_claims))

    response = httpx.get(f"{server.url}/admin", headers={"Authorization": bearer(token)})

    assert response.status_code == 200
    assert response.json() == {"sub": "user-1"}


def test_token_minted_by_the_runtime_is_accepted(live_server: Callable[[App], Any]) -> None:
    server = live_server(make_app(JWTAuth()))

    token = server.token("user-9", ["admin:write"])
    response = httpx.get(f"{server.url}/admin", headers={"Authorization": bearer(token)})

    assert response.status_code == 200
    assert response.json() == {"sub": "user-9"}


def test_rs256_app_rejects_an_hs256_token_signed_with_its_public_key(
    keys: Keys, live_server: Callable[[App], Any]
) -> None:
    server = live_server(
        make_app(JWTAuth(algorithms=["RS256"], public_key=keys.rsa_public_pem.decode()))
    )
    good = jwt.encode(claims(), keys.rsa_private, algorithm="RS256")

    forged = httpx.get(
        f"{server.url}/me", headers={"Authorization": bearer(_hs256_signed_with_public_pem(keys))}
    )
    genuine = httpx.get(f"{server.url}/me", headers={"Authorization": bearer(good)})

    assert_unauthorized(forged)
    assert genuine.status_code == 200


def test_jwks_and_es256_tokens_work_over_http(
    keys: Keys, live_server: Callable[[App], Any]
) -> None:
    server = live_server(
        make_app(JWTAuth(algorithms=["RS256", "ES256"], jwks_file=str(keys.jwks_file)))
    )
    rs = jwt.encode(claims(), keys.jwks_private, algorithm="RS256", headers={"kid": "rsa-1"})
    es = jwt.encode(claims(), keys.ec_private, algorithm="ES256", headers={"kid": "ec-1"})

    for token in (rs, es):
        response = httpx.get(f"{server.url}/me", headers={"Authorization": bearer(token)})
        assert response.status_code == 200, response.text
