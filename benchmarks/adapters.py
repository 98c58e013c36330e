"""Lambda HTTP adapters side by side, in-process: per-event dispatch overhead and the
cold-start proxy (import the handler module, serve the first event).

    .venv/bin/python benchmarks/adapters.py          # only this section, into RESULTS.md
    .venv/bin/python benchmarks/adapters.py --quick --output /tmp/adapters.md
    make bench                                        # every section, this one included

The contenders, each a handler module written into a work folder as a user would deploy
it (``HANDLERS``), all answering ``GET /hello`` with ``{"message": "hello"}``: faaskit's
``lambda_handler(app)``, Powertools' ``APIGatewayHttpResolver``, Chalice, Mangum over a
bare Starlette app, and a bare function (the floor: what calling a handler costs here).

Per event: one child process (``adapters.py per-event``) imports every handler, checks
each answer once, then times ``events`` calls per contender per round, the contenders
interleaved (their order rotates every round); it prints one JSON line per round. Cold
start: a fresh ``python -c`` per sample imports one handler module and serves one event,
timing both with ``perf_counter`` inside the process; samples interleaved across contenders.
"""

from __future__ import annotations

import argparse
import copy
import gc
import importlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from results_adapters import (
    BARE,
    CHALICE,
    CONTENDERS,
    FAASKIT,
    MANGUM,
    POWERTOOLS,
    AdapterResults,
    ColdRow,
    DispatchRow,
)

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "tests" / "fixtures" / "aws"
V2_FIXTURE = "powertools-apiGatewayProxyV2Event.json"
V1_FIXTURE = "powertools-apiGatewayProxyEvent.json"
V2 = "HTTP API (payload 2.0)"
V1 = "REST API proxy (payload 1.0)"
HELLO = {"message": "hello"}
DISTRIBUTIONS = ("faaskit", "aws-lambda-powertools", "chalice", "mangum", "starlette")

# name -> (module, event kind, source). faaskit's is the handler module that `faaskit
# package --target aws-sam` writes (src/faaskit/packaging/aws_sam.py), importing the app
# from the user's module (APP_MODULES); each app is written as its documentation shows.
HANDLERS: dict[str, tuple[str, str, str]] = {
    FAASKIT: (
        "handler_faaskit",
        V2,
        """\
from faaskit.adapters.aws import lambda_handler
from hello_faaskit import app as faaskit_app

handler = lambda_handler(faaskit_app)
# Start-up (the secret, the store, the keys) in Lambda's init phase, not in the first event.
handler.start()
""",
    ),
    POWERTOOLS: (
        "handler_powertools",
        V2,
        """\
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

app = APIGatewayHttpResolver()


@app.get("/hello")
def hello() -> dict[str, str]:
    return {"message": "hello"}


def handler(event, context):
    return app.resolve(event, context)
""",
    ),
    CHALICE: (
        "handler_chalice",
        V1,
        """\
from chalice import Chalice

app = Chalice(app_name="hello")


@app.route("/hello")
def hello() -> dict[str, str]:
    return {"message": "hello"}


handler = app
""",
    ),
    MANGUM: (
        "handler_mangum",
        V2,
        """\
from mangum import Mangum
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


async def hello(request):
    return JSONResponse({"message": "hello"})


app = Starlette(routes=[Route("/hello", hello, methods=["GET"])])
handler = Mangum(app, lifespan="off")
""",
    ),
    BARE: (
        "handler_bare",
        V2,
        """\
import json


def handler(event, context):
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"message": "hello"}),
    }
""",
    ),
}

APP_MODULES = {
    "hello_faaskit": """\
from faaskit import App

app = App("hello")


@app.get("/hello")
async def hello() -> dict[str, str]:
    return {"message": "hello"}
""",
}

CONTEXT_SOURCE = '''\
"""What the Lambda runtime hands every handler as ``context`` (the fields they read)."""


class LambdaContext:
    aws_request_id = "6f2c8b1e-4d3a-4c59-9b7e-2a1d0e5f8c43"
    function_name = "hello"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:hello"
    memory_limit_in_mb = 512
    log_group_name = "/aws/lambda/hello"
    log_stream_name = "2026/12/01/[$LATEST]0123456789abcdef0123456789abcdef"

    def get_remaining_time_in_millis(self):
        return 30_000
'''

# The headers API Gateway adds to every request (the fixture has only made-up ones).
GATEWAY_HEADERS = {
    "accept": "application/json",
    "accept-encoding": "gzip, deflate, br",
    "host": "id.execute-api.us-east-1.amazonaws.com",
    "user-agent": "curl/8.5.0",
    "x-amzn-trace-id": "Root=1-674cf4a0-3b2e1f0c5d6a7b8c9d0e1f2a",
    "x-forwarded-for": "192.168.0.1",
    "x-forwarded-port": "443",
    "x-forwarded-proto": "https",
}

COLD_START = """\
import json, time
from bench_context import LambdaContext
with open({event!r}) as file:
    event = json.load(file)
context = LambdaContext()
started = time.perf_counter()
import {module} as deployed
imported = time.perf_counter()
answer = deployed.handler(event, context)
answered = time.perf_counter()
print(json.dumps({{"import_ms": (imported - started) * 1e3,
                  "first_ms": (answered - imported) * 1e3, "answer": answer}}))
"""
"""One cold-start sample: what a fresh Lambda environment does (the runtime has loaded
``json`` and parsed the event before it imports the handler module)."""


def v2_event() -> dict[str, Any]:
    """Powertools' HTTP API sample event as ``GET /hello`` (its cookies, query string,
    JWT authorizer and stage variables kept), with the headers API Gateway adds."""
    event: dict[str, Any] = json.loads((FIXTURES / V2_FIXTURE).read_text())
    http = event["requestContext"]["http"]
    http["method"], http["path"] = "GET", "/hello"
    event["rawPath"] = "/hello"
    event["routeKey"] = event["requestContext"]["routeKey"] = "GET /hello"
    event["headers"] = {**event["headers"], **GATEWAY_HEADERS}
    event["body"], event["pathParameters"] = None, None
    return event


def v1_event() -> dict[str, Any]:
    """Powertools' REST API proxy sample event as ``GET /hello``, the same headers."""
    event: dict[str, Any] = json.loads(
        (FIXTURES / "powertools-apiGatewayProxyEvent.json").read_text()
    )
    context = event["requestContext"]
    event["resource"] = event["path"] = context["resourcePath"] = context["path"] = "/hello"
    event["httpMethod"] = context["httpMethod"] = "GET"
    event["headers"] = {**event["headers"], **GATEWAY_HEADERS}
    multi = {name: [value] for name, value in GATEWAY_HEADERS.items()}
    event["multiValueHeaders"] = {**event["multiValueHeaders"], **multi}
    event["body"] = None
    return event


EVENTS: dict[str, Callable[[], dict[str, Any]]] = {V2: v2_event, V1: v1_event}
EVENT_FILES = {V2: "event-v2.json", V1: "event-v1.json"}


def prepare(workdir: Path) -> None:
    """The handler modules, the context class and the two events, into ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    for module, _, source in HANDLERS.values():
        (workdir / f"{module}.py").write_text(source)
    for module, source in APP_MODULES.items():
        (workdir / f"{module}.py").write_text(source)
    (workdir / "bench_context.py").write_text(CONTEXT_SOURCE)
    for kind, make in EVENTS.items():
        (workdir / EVENT_FILES[kind]).write_text(json.dumps(make(), indent=2))


def answer_error(answer: Any) -> str | None:
    """Why ``answer`` is not a 200 with the hello JSON body (None when it is)."""
    if not isinstance(answer, Mapping):
        return f"answered a {type(answer).__name__}, not an object"
    status, body = answer.get("statusCode"), answer.get("body")
    try:
        decoded = json.loads(body) if isinstance(body, str) else None
    except ValueError:
        decoded = None
    if status != 200 or decoded != HELLO:
        return f"answered {status} {str(body)[:120]!r}"
    return None


# --- per event, in the child process ------------------------------------------------------


def _emit(found: Mapping[str, Any]) -> None:
    print(json.dumps(found), flush=True)


def per_event(workdir: Path, rounds: int, events: int) -> None:
    """The child: import, check once, warm up, then ``rounds`` interleaved rounds."""
    sys.path.insert(0, str(workdir))
    os.environ["FAASKIT_HOME"] = str(workdir / "faaskit-home")
    context = importlib.import_module("bench_context").LambdaContext()
    ready: dict[str, tuple[Callable[[Any, Any], Any], dict[str, Any]]] = {}
    errors: dict[str, str] = {}
    for name, (module, kind, _) in HANDLERS.items():
        event = json.loads((workdir / EVENT_FILES[kind]).read_text())
        try:
            handler = importlib.import_module(module).handler
            pristine = copy.deepcopy(event)
            error = answer_error(handler(event, context))
            if error is None and event != pristine:
                error = "changed the event it was handed (the benchmark reuses one)"
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        if error is None:
            ready[name] = (handler, event)
        else:
            errors[name] = error
    notes = []
    if CHALICE in ready:
        v2 = json.loads((workdir / EVENT_FILES[V2]).read_text())
        answer = ready[CHALICE][0](v2, context)
        notes.append(
            f"Chalice answers the HTTP API (2.0) event {answer.get('statusCode')} "
            f"{answer.get('body')}: it routes only REST API proxy (1.0) events, on "
            "`requestContext.resourcePath`, so it is given its native 1.0 event."
        )
    _emit({"errors": errors, "notes": notes})
    for handler, event in ready.values():  # warm-up: caches, the loop, lazy imports
        for _ in range(max(1, events // 4)):
            handler(event, context)
    names = list(ready)
    for round_ in range(rounds):
        shift = round_ % len(names) if names else 0
        found: dict[str, float] = {}
        for name in names[shift:] + names[:shift]:
            handler, event = ready[name]
            gc.collect()  # nobody pays for garbage the one before left
            started = time.perf_counter()
            for _ in range(events):
                handler(event, context)
            found[name] = (time.perf_counter() - started) / events * 1e6
        _emit({"round": round_ + 1, "us": found})


# --- the parent ---------------------------------------------------------------------------


def steps(rounds: int, samples: int) -> int:
    """Progress steps of :func:`measure`: the checks, each round, the compile, each sample."""
    return 1 + rounds + 1 + samples * len(CONTENDERS)


def measure(
    found: AdapterResults,
    workdir: Path,
    env: Mapping[str, str],
    cpu: list[str],
    *,
    rounds: int,
    events: int,
    samples: int,
    advance: Callable[[str], None],
) -> None:
    """Fill ``found`` (rows appear as they are measured, for a live display)."""
    found.rounds, found.events_per_round, found.samples = rounds, events, samples
    prepare(workdir)
    _dispatch(found, workdir, env, rounds, events, advance)
    _cold_starts(found, workdir, env, cpu, samples, advance)


def _dispatch(
    found: AdapterResults,
    workdir: Path,
    env: Mapping[str, str],
    rounds: int,
    events: int,
    advance: Callable[[str], None],
) -> None:
    rows = {name: DispatchRow(name, HANDLERS[name][1]) for name in CONTENDERS}
    found.dispatch.extend(rows.values())
    advance("adapters: import and check each handler")
    # Not pinned: on this shared machine a pinned process waits whenever another one is
    # on its core; the interleaved rounds keep the ratios fair either way.
    command = [sys.executable, str(HERE / "adapters.py"), "per-event"]
    command += ["--workdir", str(workdir), "--rounds", str(rounds), "--events", str(events)]
    child = subprocess.Popen(
        command,
        env={**env, "FAASKIT_HOME": str(workdir / "faaskit-home")},
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stderr is not None
    for line in child.stdout:
        message = json.loads(line)
        if "errors" in message:
            for name, error in message["errors"].items():
                rows[name].error = error
            found.notes.extend(message["notes"])
            continue
        advance(f"adapters: per event, round {message['round']} of {rounds}")
        for name, us in message["us"].items():
            rows[name].rounds_us.append(us)
    stderr = child.stderr.read()
    if child.wait() != 0:
        last = (stderr.strip().splitlines() or ["no output"])[-1]
        for row in rows.values():
            row.error = row.error or f"the per-event process failed: {last}"


def _cold_once(
    module: str, kind: str, workdir: Path, env: Mapping[str, str], cpu: list[str]
) -> tuple[float, float]:
    home = workdir / "cold-home"
    code = COLD_START.format(event=str(workdir / EVENT_FILES[kind]), module=module)
    # Every contender loads cached bytecode: pip wrote the installed packages' .pyc files,
    # and the discarded first run writes faaskit's and the handler modules' (with
    # PYTHONDONTWRITEBYTECODE from the caller's shell, faaskit alone would be compiled
    # from source in every sample).
    fair = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    done = subprocess.run(
        [*cpu, sys.executable, "-c", code],
        env={**fair, "FAASKIT_HOME": str(home)},
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    _remove_tree(home)  # every sample is a fresh environment: a new, empty /tmp store
    if done.returncode != 0:
        raise RuntimeError((done.stderr.strip().splitlines() or ["no output"])[-1])
    sample = json.loads(done.stdout.strip().splitlines()[-1])
    error = answer_error(sample["answer"])
    if error is not None:
        raise RuntimeError(error)
    return float(sample["import_ms"]), float(sample["first_ms"])


def _cold_starts(
    found: AdapterResults,
    workdir: Path,
    env: Mapping[str, str],
    cpu: list[str],
    samples: int,
    advance: Callable[[str], None],
) -> None:
    rows = {name: ColdRow(name) for name in CONTENDERS}
    found.cold.extend(rows.values())
    advance("adapters: cold start, one discarded run each (compiles .pyc files)")
    for name, row in rows.items():
        module, kind, _ = HANDLERS[name]
        try:
            _cold_once(module, kind, workdir, env, cpu)
        except Exception as error:
            row.error = str(error)
    names = list(CONTENDERS)
    for sample in range(samples):
        shift = sample % len(names)
        for name in names[shift:] + names[:shift]:
            advance(f"adapters: cold start, {name}, sample {sample + 1} of {samples}")
            row = rows[name]
            if row.error:
                continue
            module, kind, _ = HANDLERS[name]
            try:
                imported, first = _cold_once(module, kind, workdir, env, cpu)
            except Exception as error:
                row.error = str(error)
                continue
            row.import_ms.append(imported)
            row.first_ms.append(first)


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def utc_now() -> str:
    return time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime())


def spread(values: list[float]) -> str:
    """min / median / max, for a table cell."""
    if not values:
        return "—"
    return f"{min(values):.1f} / {statistics.median(values):.1f} / {max(values):.1f}"


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["per-event"]:
        parser = argparse.ArgumentParser(prog="adapters.py per-event")
        parser.add_argument("--workdir", type=Path, required=True)
        parser.add_argument("--rounds", type=int, required=True)
        parser.add_argument("--events", type=int, required=True)
        args = parser.parse_args(arguments[1:])
        per_event(args.workdir, args.rounds, args.events)
        return 0
    import run  # this section alone, with run.py's options, display and RESULTS.md

    return run.main(["--only", "adapters", *arguments])


if __name__ == "__main__":
    sys.exit(main())
