"""Route paths compile as Starlette compiles them (same regex, same convertors), without
importing starlette.routing; a bad path is a clear ConfigurationError."""

from __future__ import annotations

import subprocess
import sys

import pytest
from starlette.routing import compile_path as starlette_compile_path

from faaskit.errors import ConfigurationError
from faaskit.http.paths import compile_path

PATHS = [
    "/",
    "/healthz",
    "/users/{user_id}",
    "/users/{user_id:int}/orders/{order_id:uuid}",
    "/files/{name:path}",
    "/prices/{amount:float}",
    "/a.b/{x}+{y}",
    "/odd (chars)/[x]/{value}",
]


@pytest.mark.parametrize("path", PATHS)
def test_a_path_compiles_as_starlette_compiles_it(path: str) -> None:
    regex, convertors = compile_path(path)
    theirs, _, their_convertors = starlette_compile_path(path)
    assert regex.pattern == theirs.pattern
    assert {name: type(c) for name, c in convertors.items()} == {
        name: type(c) for name, c in their_convertors.items()
    }


def test_parameters_match_and_convert() -> None:
    regex, convertors = compile_path("/users/{user_id:int}/files/{name:path}")
    match = regex.match("/users/42/files/a/b.txt")
    assert match is not None
    values = {k: convertors[k].convert(v) for k, v in match.groupdict().items()}
    assert values == {"user_id": 42, "name": "a/b.txt"}
    assert regex.match("/users/x/files/a") is None


def test_an_unknown_convertor_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="unknown path convertor 'date'"):
        compile_path("/days/{day:date}")


def test_a_repeated_parameter_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="'id' appears twice"):
        compile_path("/{id}/{id}")


def test_the_gateway_does_not_import_starlette_routing() -> None:
    code = "import sys, faaskit.http.gateway; print('starlette.routing' in sys.modules)"
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == "False"
