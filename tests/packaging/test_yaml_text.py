"""faaskit's YAML writer: what it writes reads back, with PyYAML, as the data it was given."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from faaskit.packaging.yaml_text import dump_yaml

TRICKY = [
    "2010-09-09",
    "true",
    "no",
    "NULL",
    "~",
    "1.0",
    "1e3",
    ".5",
    "0x1F",
    "12:30",
    "*/*",
    "*~1*",
    "&anchor",
    "!tag",
    "@at",
    "%pct",
    "-dash",
    "a: b",
    "a #b",
    "ends:",
    " lead",
    "trail ",
    '{"faaskit": "sweep"}',
    "[1]",
    "multi\nline",
    "quote \" and '",
    "é ü",
    "${AWS::Region}",
    "rate(1 minute)",
    "https://x.example/a?b=c",
    "",
]


@pytest.mark.parametrize("text", TRICKY)
def test_a_string_reads_back_as_itself(text: str) -> None:
    assert yaml.safe_load(dump_yaml({"value": text, text or "empty": 1})) == {
        "value": text,
        text or "empty": 1,
    }


def test_nesting_and_scalars_read_back() -> None:
    data: dict[str, Any] = {
        "Resources": {
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": 1980}},
            "Role": {
                "Statement": [
                    {"Effect": "Allow", "Action": ["a", "b"], "Resource": {"Ref": "X"}},
                    [],
                    {},
                    None,
                    True,
                    2.5,
                ]
            },
        },
        "Empty": {},
        "None": [],
    }

    text = dump_yaml(data)

    assert yaml.safe_load(text) == data
    assert list(yaml.safe_load(text)) == ["Resources", "Empty", "None"]  # order kept


def test_values_yaml_cannot_hold_are_refused() -> None:
    with pytest.raises(ValueError):
        dump_yaml({"x": float("nan")})
    with pytest.raises(TypeError):
        dump_yaml({"x": object()})
