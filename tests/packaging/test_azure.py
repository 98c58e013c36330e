"""``faaskit package --target azure``: function_app.py, from the output folder alone, serves
the shop through its registered HTTP function with azure.functions.HttpRequest; host.json's
route prefix is the one the adapter strips."""

from __future__ import annotations

import json
from pathlib import Path

from tests.adapters.cloud_http_support import shop_acceptance
from tests.packaging.support import EntryProcess, ShopThroughAzure, issuer, served_environment


def test_function_app_serves_the_shop_under_host_json_prefix(
    shop_azure: Path, tmp_path: Path
) -> None:
    prefix = json.loads((shop_azure / "host.json").read_text())["extensions"]["http"]["routePrefix"]
    env = served_environment(shop_azure, tmp_path)
    entry = EntryProcess("azure", shop_azure, env, tmp_path / "azure.log")
    try:
        shop = ShopThroughAzure(entry, issuer(tmp_path), prefix)
        shop_acceptance(shop)
        wrong = ShopThroughAzure(entry, issuer(tmp_path), "elsewhere")
        missed, problem = wrong.request("GET", "/openapi.json")
    finally:
        entry.close()

    assert entry.faaskit_file.is_relative_to(shop_azure)  # the copy, not the repository's
    assert prefix == "api"
    assert missed == 404 and problem["status"] == 404  # the prefix is stripped, not ignored


def test_the_project_has_the_files_the_host_needs(shop_azure: Path) -> None:
    host = json.loads((shop_azure / "host.json").read_text())
    settings = json.loads((shop_azure / "local.settings.json").read_text())
    required = (shop_azure / "requirements.txt").read_text().splitlines()
    source = (shop_azure / "function_app.py").read_text()

    assert host["version"] == "2.0"
    assert host["extensionBundle"]["id"] == "Microsoft.Azure.Functions.ExtensionBundle"
    assert settings["Values"]["FUNCTIONS_WORKER_RUNTIME"] == "python"
    assert "azure-functions>=1.21" in required and "azure-servicebus>=7.11" in required
    assert 'route_prefix="api"' in source
    assert "FAASKIT_SERVICEBUS" in source and "FAASKIT_SERVICEBUS_QUEUE" in source
    assert "local.settings.json" in (shop_azure / ".funcignore").read_text()
