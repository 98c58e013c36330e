"""Secret values never leave faaskit in what it shows or stores: its log lines, problem
responses, the errors and tracebacks of retries and dead letters, saga failures. Each
test reads a fresh secret through ``ctx.secrets`` (which registers it), makes a handler
fail with that value in its error, and looks at the captured output or the stored rows."""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from faaskit import App, Backoff, ConflictError, Context, StepFailed
from faaskit.auth import JWTAuth, TokenIssuer, TokenVerifier
from faaskit.errors import AuthError
from faaskit.observability.logging import JSONFormatter, RedactingFilter
from faaskit.secrets import Secrets, redact
from faaskit.secrets.redaction import MASK, MIN_LENGTH, Redactor
from faaskit.testing import AppHarness


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> str:
    """A new value of the app secret ``stripe`` (in the environment, not yet read)."""
    value = f"sk_live_{uuid.uuid4().hex}"
    monkeypatch.setenv("FAASKIT_SECRET_STRIPE", value)
    return value


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """faaskit's JSON log lines, captured."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JSONFormatter())
    logger = logging.getLogger("faaskit")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_the_redactor_masks_longest_first_and_skips_short_values() -> None:
    redactor = Redactor()
    redactor.add("abcdefgh")
    redactor.add("abcdefgh-and-more")
    redactor.add("short")  # under MIN_LENGTH: ordinary words must survive

    assert redactor.redact("x abcdefgh-and-more y abcdefgh z short") == "x *** y *** z short"
    assert len("short") < MIN_LENGTH and len(redactor) == 2


def test_every_string_of_a_json_secret_is_masked_on_its_own(tmp_path: Path) -> None:
    password = f"pw-{uuid.uuid4().hex}"
    (tmp_path / "db").write_text(orjson.dumps({"user": "shop", "password": password}).decode())

    Secrets(tmp_path).json("db")

    assert redact(f"login failed with {password}") == f"login failed with {MASK}"


async def test_log_lines_mask_the_secret_in_message_fields_and_traceback(
    secret: str, log_lines: io.StringIO
) -> None:
    app = App("redact_logs")

    @app.get("/charge")
    async def charge(ctx: Context) -> dict[str, str]:
        key = ctx.secrets["stripe"]
        ctx.log.info("charging with %s", key, extra={"fields": {"key": key, "nested": [key]}})
        raise RuntimeError(f"the provider refused key {key}")

    async with AppHarness(app) as h:
        response = await h.http.get("/charge")

    assert response.status_code == 500
    output = log_lines.getvalue()
    assert "charging with ***" in output
    assert "the provider refused key ***" in output  # the 500's traceback, logged
    assert "Traceback" in output
    assert secret not in output


async def test_a_problem_response_does_not_show_the_secret(
    secret: str, log_lines: io.StringIO
) -> None:
    app = App("redact_problems")

    @app.post("/charge")
    async def charge(ctx: Context) -> None:
        raise ConflictError(f"charge already taken with key {ctx.secrets['stripe']}")

    async with AppHarness(app) as h:
        response = await h.http.post("/charge")

    assert response.status_code == 409
    assert response.json()["detail"] == "charge already taken with key ***"
    assert secret not in response.text
    assert secret not in log_lines.getvalue()


async def test_dead_letters_and_retries_store_no_secret(
    secret: str, log_lines: io.StringIO
) -> None:
    app = App("redact_dead_letters")

    @app.post("/charges", status=202)
    async def place(ctx: Context) -> None:
        ctx.publish("charge.requested", {"amount": 10})

    @app.subscribe("charge.requested", max_attempts=3, backoff=Backoff(base=1, cap=1))
    async def take(event: dict[str, int], ctx: Context) -> None:
        raise ConnectionError(f"provider rejected {ctx.secrets['stripe']}")

    async with AppHarness(app) as h:
        await h.http.post("/charges")
        from datetime import timedelta

        await h.advance(timedelta(seconds=30))
        dead = await h.dead_letters()

    [letter] = dead
    assert [error["attempt"] for error in letter.errors] == [1, 2, 3]
    for error in letter.errors:
        assert error["error"] == "ConnectionError: provider rejected ***"
        assert "provider rejected ***" in error["traceback"]
    assert secret not in orjson.dumps(letter.errors).decode()
    assert secret not in log_lines.getvalue()


async def test_saga_failures_store_no_secret(secret: str) -> None:
    app = App("redact_sagas")
    saga = app.saga("payment")

    @saga.step(max_attempts=2, backoff=Backoff(base=1, cap=1))
    async def reserve(input: dict[str, str], results: dict[str, str], ctx: Context) -> dict:
        if input["how"] == "error":
            raise ConnectionError(f"provider down for {ctx.secrets['stripe']}")
        raise StepFailed(f"declined for {ctx.secrets['stripe']}", code="declined")

    @app.post("/pay/{how}", status=202)
    async def pay(how: str, ctx: Context) -> dict[str, str]:
        return {"id": await ctx.start_saga(saga, {"how": how}, saga_id=f"pay-{how}")}

    async with AppHarness(app) as h:
        await h.http.post("/pay/error")
        await h.http.post("/pay/declined")
        from datetime import timedelta

        await h.advance(timedelta(seconds=30))
        errored, declined = await h.saga("pay-error"), await h.saga("pay-declined")

    assert errored.failure is not None and declined.failure is not None
    assert errored.failure["reason"] == "ConnectionError: provider down for ***"
    assert [f["error"] for f in errored.steps[0].failures] == [
        "ConnectionError: provider down for ***"
    ] * 2
    assert declined.failure["reason"] == "declined for ***"
    for state in (errored, declined):
        assert secret not in orjson.dumps(state.to_data()).decode()


def test_a_filter_masks_records_for_handlers_of_ones_own(secret: str, tmp_path: Path) -> None:
    Secrets(tmp_path).get("stripe")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("an_app_of_ones_own")
    logger.addHandler(handler)
    try:
        try:
            raise ValueError(secret)
        except ValueError:
            logger.exception("bad key %s", secret)
    finally:
        logger.removeHandler(handler)

    assert "bad key ***" in stream.getvalue() and "ValueError: ***" in stream.getvalue()
    assert secret not in stream.getvalue()


# --- the keys that come through the secrets ------------------------------------------------


class Rotating:
    def __init__(self, value: str) -> None:
        self.value = value

    def get(self, name: str) -> str | None:
        return self.value if name == "jwt-signing-key" else None


def test_the_jwt_key_comes_through_the_chain_and_rotates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import faaskit.auth

    monkeypatch.setattr(faaskit.auth, "KEY_RECHECK", 0.0)
    source = Rotating("k1-" + "a" * 40)
    secrets = Secrets(tmp_path, providers=[source], ttl=0)
    issuer, verifier = TokenIssuer(JWTAuth(), secrets), TokenVerifier(JWTAuth(), secrets)
    before = issuer.mint("ada")

    source.value = "k2-" + "b" * 40
    after = issuer.mint("ada")

    assert issuer.key == verifier.hmac_key == source.value.encode()
    assert verifier.verify(f"Bearer {after}").subject == "ada"
    # a token minted just before the rotation is still good while it lives
    assert verifier.verify(f"Bearer {before}").subject == "ada"
    assert verifier._signing is not None
    verifier._signing._previous_until = 0.0  # its lifetime has passed
    with pytest.raises(AuthError, match="signature"):
        verifier.verify(f"Bearer {before}")
    assert redact(source.value) == MASK  # read through the secrets: hidden too


def test_a_rotated_key_that_is_too_short_is_refused_and_the_old_one_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import faaskit.auth

    monkeypatch.setattr(faaskit.auth, "KEY_RECHECK", 0.0)
    source = Rotating("k1-" + "c" * 40)
    issuer = TokenIssuer(JWTAuth(), Secrets(tmp_path, providers=[source], ttl=0))

    source.value = "short-key-1234"
    with caplog.at_level("ERROR", logger="faaskit.auth"):
        key = issuer.key

    assert key == ("k1-" + "c" * 40).encode()
    assert "kept" in caplog.text and "short-key-1234" not in caplog.text


def test_the_shop_signs_its_webhooks_with_the_key_from_the_chain(tmp_path: Path) -> None:
    from shop.payments import SECRET, webhook_secret

    key = f"whsec_{uuid.uuid4().hex}"
    (tmp_path / ".env").write_text(f"FAASKIT_SECRET_{SECRET.upper().replace('-', '_')}={key}\n")
    from faaskit.secrets import DotenvProvider

    class Ctx:
        secrets = Secrets(tmp_path / "secrets", providers=[DotenvProvider(tmp_path / ".env")])

    assert webhook_secret(Ctx()) == key  # type: ignore[arg-type]
    assert redact(key) == MASK
