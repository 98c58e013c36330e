"""One sample of the shop's cold start through the direct door, in this fresh process.

    python coldstart_child.py SPAWNED PATH WARM EXAMPLES      # COLDSTART_TOKEN in the env

``SPAWNED`` is the parent's ``time.perf_counter()`` just before it spawned this process:
on Linux that clock is ``CLOCK_MONOTONIC``, one clock for every process, so the phases
below count from the spawn. The process does what a Lambda environment's init and first
event do with faaskit's handler (``faaskit.adapters.aws``): import faaskit and the app,
build the runtime and the gateway on a new event loop, ``runtime.start()``; then it sends
``GET PATH`` with the bearer token through ``Gateway.respond`` once (the cold request) and
``WARM`` times more (warm), and prints one JSON line: the phases in ms.

Only ``time`` and ``sys`` load before the first timestamp, so the interpreter phase is the
interpreter's own start.
"""

import time

MAIN = time.perf_counter()

import sys  # noqa: E402


def main() -> None:
    spawned, path, warm, examples = float(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
    sys.dont_write_bytecode = False  # faaskit's .pyc files are cached like any package's
    sys.path.insert(0, examples)
    import asyncio
    import os

    from faaskit.config import Settings
    from faaskit.http.exchange import Request
    from faaskit.http.gateway import Gateway
    from faaskit.observability.logging import configure_logging
    from faaskit.runtime.runtime import Runtime
    from shop import app

    imported = time.perf_counter()
    headers = {"authorization": f"Bearer {os.environ['COLDSTART_TOKEN']}", "host": "shop.test"}
    loop = asyncio.new_event_loop()  # as the Lambda adapter does: one loop per environment
    settings = Settings.load()
    configure_logging(settings.log_level)
    runtime = Runtime(app, settings)
    gateway = Gateway(runtime)
    loop.run_until_complete(runtime.start())
    started = time.perf_counter()

    async def requests() -> tuple[float, list[float], list[int]]:
        answer = await gateway.respond(Request("GET", path, headers=dict(headers)))
        first_done = time.perf_counter()
        statuses, warm_ms = [answer.status], []
        for _ in range(warm):
            begun = time.perf_counter()
            answer = await gateway.respond(Request("GET", path, headers=dict(headers)))
            warm_ms.append((time.perf_counter() - begun) * 1e3)
            statuses.append(answer.status)
        return first_done, warm_ms, statuses

    first_done, warm_ms, statuses = loop.run_until_complete(requests())
    loop.run_until_complete(runtime.stop())
    loop.close()
    ordered = sorted(warm_ms)
    import json

    found = {
        "interpreter_ms": (MAIN - spawned) * 1e3,
        "import_ms": (imported - MAIN) * 1e3,
        "start_ms": (started - imported) * 1e3,
        "first_ms": (first_done - started) * 1e3,
        "total_ms": (first_done - spawned) * 1e3,
        "warm_p50_ms": ordered[(len(ordered) - 1) // 2] if ordered else None,
        "warm_p99_ms": ordered[int(len(ordered) * 0.99) - 1] if ordered else None,
        "statuses": sorted(set(statuses)),
    }
    print(json.dumps(found))


if __name__ == "__main__":
    main()
