"""``faaskit package --target gcp``: main.py, from the output folder alone, serves the shop
through the real functions-framework server; the README has the commands that deploy it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from faaskit.packaging.gcp_functions import has_event_function
from tests.adapters.cloud_http_support import shop_acceptance
from tests.adapters.test_gcp_http import _wait_until_serving
from tests.conftest import free_port
from tests.packaging.support import issuer, served_environment


class ShopOverHttp:
    def __init__(self, url: str, tmp_path: Path) -> None:
        self.client = httpx.Client(base_url=url, timeout=30)
        self.tokens = issuer(tmp_path)

    def request(
        self, method: str, path: str, *, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = self.client.request(method, path, json=body, headers=headers)
        return response.status_code, response.json() if response.content else None

    def token(self, subject: str, scopes: tuple[str, ...]) -> str:
        return self.tokens.mint(subject, scopes)


@pytest.fixture
def served(shop_gcp: Path, tmp_path: Path) -> Iterator[str]:
    """functions-framework serving the output's main.py, as Cloud Functions would."""
    port = free_port()
    env = served_environment(shop_gcp, tmp_path, THREADS="4")
    command = [
        str(Path(sys.executable).parent / "functions-framework"),
        "--target=handler",
        f"--source={shop_gcp / 'main.py'}",
        "--host=127.0.0.1",
        f"--port={port}",
    ]
    log_path = tmp_path / "functions-framework.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=shop_gcp,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_serving(url, process, log_path)
            yield url
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=20)


def test_main_serves_the_shop_through_functions_framework(served: str, tmp_path: Path) -> None:
    shop = ShopOverHttp(served, tmp_path)
    with shop.client:
        shop_acceptance(shop)  # register, users, activate, log in, an order

        registered, body = shop.request(
            "POST", "/register", body={"email": "gcp@example.com", "name": "Gee Cee"}
        )

    assert registered == 201 and body["user_id"]
    assert (tmp_path / "served.db").is_file()  # FAASKIT_DATABASE_URL, as --set-secrets gives


def test_main_imports_the_copied_faaskit_and_names_its_entry_points(
    shop_gcp: Path, tmp_path: Path
) -> None:
    probe = (
        "import json, faaskit, main; "
        "print(json.dumps([faaskit.__file__, callable(main.handler), "
        "callable(getattr(main, 'events', None))]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=shop_gcp,
        env=served_environment(shop_gcp, tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    import json

    faaskit_file, handler, events = json.loads(done.stdout)
    assert Path(faaskit_file).is_relative_to(shop_gcp)
    assert handler is True
    assert events is has_event_function()  # the shop has subscribers: events when it can


def test_the_readme_deploys_with_secrets_a_topic_and_the_sweep(shop_gcp: Path) -> None:
    readme = (shop_gcp / "README.md").read_text()
    required = (shop_gcp / "requirements.txt").read_text().splitlines()

    assert "gcloud functions deploy shop --entry-point=handler --trigger-http" in readme
    assert "--gen2 --runtime=python311" in readme
    assert (
        "--set-secrets=FAASKIT_DATABASE_URL=shop-database-url:latest,"
        "FAASKIT_SECRET_JWT_SIGNING_KEY=shop-jwt-signing-key:latest"
    ) in readme
    assert "functions-framework>=3.8" in required
    if has_event_function():
        assert "gcloud pubsub topics create shop-relay" in readme
        assert '--schedule="* * * * *" --topic=shop-relay' in readme
        assert """--message-body='{"faaskit":"sweep"}'""" in readme
        assert "FAASKIT_PUBSUB_TOPIC=projects/$PROJECT/topics/shop-relay" in readme
