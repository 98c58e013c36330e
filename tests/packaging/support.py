"""What the packaging tests share: the SAM tools of .venv-sam, packaging into a scratch
folder, and a generated entry module served from a process of its own."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from faaskit.auth import TokenIssuer
from faaskit.secrets import Secrets
from tests.adapters.aws_support import http_api_event

REPO = Path(__file__).resolve().parents[2]
SHOP = REPO / "examples" / "shop"
SAM_BIN = REPO / ".venv-sam" / "bin"
REQUIRE_TOOLS = os.environ.get("FAASKIT_REQUIRE_POSTGRES") == "1"  # CI sets it
SIGNING_KEY = "k" * 48  # HS256 keys need 32 bytes at least


def sam_tool(name: str) -> Path:
    """``.venv-sam/bin/<name>`` (``make sam-tools``); missing: a skip, or in CI a failure."""
    path = SAM_BIN / name
    if not os.access(path, os.X_OK):
        reason = f"{path} is missing: run `make sam-tools` (aws-sam-cli and cfn-lint)"
        if REQUIRE_TOOLS:
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def offline_aws_env(tmp_path: Path) -> dict[str, str]:
    """An environment for the AWS tools that needs no account and no network."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_CONFIG_FILE=str(tmp_path / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        SAM_CLI_TELEMETRY="0",
        HOME=str(tmp_path),  # sam keeps its settings under ~/.aws-sam
    )
    return env


def run_faaskit(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """The installed ``faaskit`` command, as a user runs it."""
    command = [str(Path(sys.executable).parent / "faaskit"), *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)


def served_environment(folder: Path, tmp_path: Path, **extra: str) -> dict[str, str]:
    """A process environment in which only ``folder`` provides faaskit and the app (the
    repository's src and examples are not on the path), on a scratch SQLite store."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FAASKIT_", "AWS_")) and k != "PYTHONPATH"
    }
    env.update(
        PYTHONPATH=str(folder),
        FAASKIT_ENV="production",  # as deployed: a missing signing key is an error
        FAASKIT_HOME=str(tmp_path / "home"),
        FAASKIT_DATABASE_URL=f"sqlite:///{tmp_path / 'served.db'}",
        FAASKIT_SECRET_JWT_SIGNING_KEY=SIGNING_KEY,
    )
    env.update(extra)
    return env


class EntryProcess:
    """``entry_process.py`` serving ``folder``'s entry module (``aws`` or ``azure``)."""

    def __init__(self, mode: str, folder: Path, env: dict[str, str], log: Path) -> None:
        self.log = log
        self._stderr = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("entry_process.py")), mode],
            cwd=folder,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        hello = self._line()
        self.faaskit_file = Path(hello["faaskit"])

    def ask(self, request: dict[str, Any]) -> Any:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({**request, "id": str(uuid.uuid4())}) + "\n")
        self.process.stdin.flush()
        answer = self._line()
        if "error" in answer:
            raise AssertionError(f"{answer['error']}\n{self.log.read_text()}")
        return answer["answer"]

    def _line(self) -> Any:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(timeout=30)
            raise AssertionError(f"the entry process exited:\n{self.log.read_text()}")
        return json.loads(line)

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._stderr.close()


def issuer(tmp_path: Path, key: str = SIGNING_KEY) -> TokenIssuer:
    """Tokens signed with ``key``, the key the served shop verifies with."""
    from shop import app

    secrets = Secrets(tmp_path / "issuer-secrets")
    secrets.create("jwt-signing-key", key)
    return TokenIssuer(app.auth, secrets)


def _decoded(text: str | None) -> Any:
    return json.loads(text) if text else None


class ShopThroughLambda:
    """The shop as API Gateway's HTTP API (payload 2.0) hands it to the handler."""

    def __init__(self, entry: EntryProcess, tokens: TokenIssuer) -> None:
        self.entry = entry
        self.tokens = tokens

    def answer(
        self, method: str, path: str, *, body: Any = None, token: str | None = None
    ) -> dict[str, Any]:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        answer: dict[str, Any] = self.entry.ask(
            {"event": http_api_event(method, path, body=body, headers=headers)}
        )
        return answer

    def request(
        self, method: str, path: str, *, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        answer = self.answer(method, path, body=body, token=token)
        text = answer.get("body") or ""
        if answer.get("isBase64Encoded"):
            text = base64.b64decode(text).decode()
        return answer["statusCode"], _decoded(text)

    def token(self, subject: str, scopes: tuple[str, ...]) -> str:
        return self.tokens.mint(subject, scopes)


class ShopThroughAzure:
    """The shop as the Functions host hands it to the registered HTTP function."""

    def __init__(self, entry: EntryProcess, tokens: TokenIssuer, prefix: str) -> None:
        self.entry = entry
        self.tokens = tokens
        self.prefix = prefix

    def request(
        self, method: str, path: str, *, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        headers = {"host": "shop.azurewebsites.net"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        raw = b"" if body is None else json.dumps(body).encode()
        if body is not None:
            headers["content-type"] = "application/json"
        answer = self.entry.ask(
            {
                "method": method,
                "url": f"https://shop.azurewebsites.net/{self.prefix}{path}",
                "headers": headers,
                "route_path": path.lstrip("/"),
                "body": base64.b64encode(raw).decode(),
            }
        )
        return answer["status"], _decoded(base64.b64decode(answer["body"]).decode())

    def token(self, subject: str, scopes: tuple[str, ...]) -> str:
        return self.tokens.mint(subject, scopes)
