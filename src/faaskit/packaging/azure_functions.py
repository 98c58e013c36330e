"""``faaskit package --target azure``: an Azure Functions project (Python v2 model).

``function_app.py`` builds the function app with :func:`faaskit.adapters.azure.function_app`
(the HTTP trigger serving every route; the Service Bus trigger and the sweep timer when
the app settings name the relay queue), ``host.json`` gives the HTTP route prefix the
adapter strips and the extension bundle the Service Bus and timer triggers need. Beside
them: ``requirements.txt``, ``local.settings.json`` for ``func start``, ``.funcignore``,
faaskit, the app's code and a README with the az and func commands.
"""

from __future__ import annotations

import json
from typing import Any

from faaskit.packaging.app_source import AppSource
from faaskit.packaging.distribution import copy_faaskit, requirements
from faaskit.packaging.output import Item, Output
from faaskit.packaging.readme import azure_readme

__all__ = ["ENTRY_MODULE", "ROUTE_PREFIX", "function_app_module", "host_json", "write_azure"]

ENTRY_MODULE = "function_app"
ROUTE_PREFIX = "api"  # host.json's and the adapter's: one constant keeps them equal


def write_azure(source: AppSource, out: Output) -> list[Item]:
    """Write the Azure Functions project for ``source`` into ``out``; what it deploys."""
    app = source.app
    queue = f"{app.name}-relay"
    out.text(f"{ENTRY_MODULE}.py", function_app_module(source))
    out.json("host.json", host_json())
    out.json(
        "local.settings.json",
        {
            "IsEncrypted": False,
            "Values": {
                "FUNCTIONS_WORKER_RUNTIME": "python",
                "AzureWebJobsStorage": "UseDevelopmentStorage=true",
                "FAASKIT_ENV": "development",
            },
        },
    )
    out.lines(".funcignore", [".faaskit/", "__pycache__/", "local.settings.json", "README.md"])
    out.lines("requirements.txt", requirements("azure"))
    out.copied(copy_faaskit(out.folder))
    for path in source.copy_into(out.folder):
        out.copied(path)
    out.text("README.md", azure_readme(app, route_prefix=ROUTE_PREFIX, queue=queue))
    items = [
        Item(
            "function",
            "faaskit_http",
            f"HTTP /{ROUTE_PREFIX}/{{*path}}: all {len(app.routes)} routes",
        )
    ]
    if app.has_triggers:
        items += [
            Item("function", "faaskit_servicebus", f"Service Bus queue {queue} (app settings)"),
            Item("queue", queue, "the relay: each commit sends its deliveries' names"),
            Item("schedule", "faaskit_sweep", "timer every minute: relays, crons, projections"),
        ]
        items += [
            Item("cron", cron.name, f"{cron.schedule} (UTC), run by the sweep")
            for cron in app.crons.values()
        ]
    return items


def host_json() -> dict[str, Any]:
    """host.json: the route prefix, the extension bundle (Service Bus, timer), a timeout
    past the 230 s an HTTP answer may take."""
    return {
        "version": "2.0",
        "extensionBundle": {
            "id": "Microsoft.Azure.Functions.ExtensionBundle",
            "version": "[4.*, 5.0.0)",
        },
        "extensions": {"http": {"routePrefix": ROUTE_PREFIX}},
        "functionTimeout": "00:10:00",
    }


def function_app_module(source: AppSource) -> str:
    """``function_app.py``: the function app the Python worker indexes."""
    return f'''"""The Azure Functions app of {source.app.title}
(written by `faaskit package --target azure`)."""

from faaskit.adapters.azure import function_app
{source.import_line("faaskit_app")}

# route_prefix is host.json's extensions.http.routePrefix: the adapter strips the same one.
# The app settings FAASKIT_SERVICEBUS (the connection string, or
# FAASKIT_SERVICEBUS__fullyQualifiedNamespace with the app's identity) and
# FAASKIT_SERVICEBUS_QUEUE (the relay queue) make function_app register the Service Bus
# trigger and the sweep timer beside the HTTP function.
app = function_app(faaskit_app, route_prefix={json.dumps(ROUTE_PREFIX)})
'''
