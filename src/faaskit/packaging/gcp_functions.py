"""``faaskit package --target gcp``: a Cloud Functions (2nd gen) source folder.

``main.py`` holds the entry points for ``functions-framework``: ``handler``, the HTTP
function serving every route (:func:`faaskit.adapters.gcp.http_function`), and, when the
app has subscribers, tasks, crons or projections and this faaskit has the Pub/Sub event
function (:mod:`faaskit.adapters.gcp_events`), ``events``, triggered by the relay topic
and the sweep's Cloud Scheduler job. Beside it: ``requirements.txt``, faaskit, the app's
code and a README with the gcloud commands.
"""

from __future__ import annotations

import importlib.util

from faaskit.packaging.app_source import AppSource
from faaskit.packaging.distribution import copy_faaskit, requirements
from faaskit.packaging.output import Item, Output
from faaskit.packaging.readme import SWEEP, gcp_readme

__all__ = ["ENTRY_MODULE", "has_event_function", "main_module", "write_gcp"]

ENTRY_MODULE = "main"


def has_event_function() -> bool:
    """Whether this faaskit can deliver messages on Google Cloud (the Pub/Sub function)."""
    return importlib.util.find_spec("faaskit.adapters.gcp_events") is not None


def write_gcp(source: AppSource, out: Output) -> list[Item]:
    """Write the Cloud Functions folder for ``source`` into ``out``; what it deploys."""
    app = source.app
    events = app.has_triggers and has_event_function()
    topic = f"{app.name}-relay"
    out.text(f"{ENTRY_MODULE}.py", main_module(source, events=events))
    out.lines("requirements.txt", requirements("gcp"))
    out.copied(copy_faaskit(out.folder))
    for path in source.copy_into(out.folder):
        out.copied(path)
    out.text("README.md", gcp_readme(app, events=events, topic=topic))
    items = [
        Item("function", app.name, f"HTTP (entry point handler): all {len(app.routes)} routes")
    ]
    if events:
        items += [
            Item("function", f"{app.name}-events", f"Pub/Sub {topic} (entry point events)"),
            Item("topic", topic, "the relay: each commit publishes its deliveries' names"),
            Item("schedule", f"{app.name}-sweep", f"Cloud Scheduler * * * * * → {topic} {SWEEP}"),
        ]
        items += [
            Item("cron", cron.name, f"{cron.schedule} (UTC), run by the sweep")
            for cron in app.crons.values()
        ]
    return items


def main_module(source: AppSource, *, events: bool) -> str:
    """``main.py``: the entry points functions-framework loads."""
    lines = [
        f'"""The Cloud Functions entry points of {source.app.title}, written by '
        "`faaskit package --target gcp`.",
        "",
        "handler: HTTP, every route (--entry-point=handler --trigger-http).",
    ]
    if events:
        lines.append(
            "events: the relay topic's Pub/Sub messages and the sweep (--entry-point=events)."
        )
    lines += ['"""', "", "import functions_framework", ""]
    lines.append("from faaskit.adapters.gcp import http_function")
    if events:
        lines.append("from faaskit.adapters.gcp_events import event_function")
    lines += [source.import_line("faaskit_app"), ""]
    lines.append("handler = functions_framework.http(http_function(faaskit_app))")
    if events:
        # functions-framework tells a CloudEvent function by the entry point's name
        lines.append("events = functions_framework.cloud_event(event_function(faaskit_app))")
    return "\n".join(lines) + "\n"
