"""A generated entry module in a process of its own, as the platform would load it: run
``python entry_process.py aws|azure FOLDER`` with FOLDER first on PYTHONPATH. It prints
one JSON line naming the faaskit it imported, then answers each JSON line of stdin (a
Lambda event, or an HTTP request for the Azure function) with one JSON line.

Not a test module: tests/packaging/support.py starts it."""

from __future__ import annotations

import asyncio
import base64
import importlib
import json
import sys
from collections.abc import Callable
from typing import Any


class LambdaContext:
    def __init__(self, request_id: str) -> None:
        self.aws_request_id = request_id
        self.function_name = "HttpFunction"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


class AzureContext:
    def __init__(self, invocation_id: str) -> None:
        self.invocation_id = invocation_id
        self.function_name = "faaskit_http"
        self.function_directory = "/home/site/wwwroot"


def aws() -> Callable[[dict[str, Any]], Any]:
    handler = importlib.import_module("faaskit_handler").handler

    def serve(request: dict[str, Any]) -> Any:
        return handler(request["event"], LambdaContext(request["id"]))

    return serve


def azure() -> Callable[[dict[str, Any]], Any]:
    import azure.functions as func

    functions = importlib.import_module("function_app").app
    (http,) = [f for f in functions.get_functions() if f.get_function_name() == "faaskit_http"]
    user = http.get_user_function()
    loop = asyncio.new_event_loop()  # the worker's one loop, for the process

    def serve(request: dict[str, Any]) -> Any:
        req = func.HttpRequest(
            method=request["method"],
            url=request["url"],
            headers=request["headers"],
            params={},
            route_params={"path": request["route_path"]},
            body=base64.b64decode(request["body"]),
        )
        answer = loop.run_until_complete(user(req, AzureContext(request["id"])))
        return {
            "status": answer.status_code,
            "headers": dict(answer.headers),
            "body": base64.b64encode(answer.get_body()).decode(),
        }

    return serve


def main() -> None:
    mode = sys.argv[1]
    serve = {"aws": aws, "azure": azure}[mode]()
    import faaskit

    print(json.dumps({"faaskit": faaskit.__file__}), flush=True)
    for line in sys.stdin:
        try:
            answer = {"answer": serve(json.loads(line))}
        except Exception as error:  # the test sees what the platform would report
            answer = {"error": f"{type(error).__name__}: {error}"}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
