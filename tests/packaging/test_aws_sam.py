"""``faaskit package --target aws-sam``: the template passes cfn-lint and ``sam validate
--lint`` and says what the shop needs on AWS; the generated handler, from the output
folder alone, serves the shop and reads its secret from Secrets Manager (moto)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from faaskit.adapters.aws_messages import is_sweep_event
from faaskit.packaging import package
from faaskit.packaging.defaults import PYTHON
from tests.adapters.cloud_http_support import shop_acceptance
from tests.packaging.support import (
    SIGNING_KEY,
    EntryProcess,
    ShopThroughLambda,
    issuer,
    offline_aws_env,
    sam_tool,
    served_environment,
)

QUEUE_ARN = {"Fn::GetAtt": ["RelayQueue", "Arn"]}
SECRET = {"Ref": "SecretArn"}


def template(out: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((out / "template.yaml").read_text())
    return loaded


def resource(out: Path, name: str) -> dict[str, Any]:
    properties: dict[str, Any] = template(out)["Resources"][name]["Properties"]
    return properties


def statements(out: Path, role: str) -> list[dict[str, Any]]:
    (policy,) = resource(out, role)["Policies"]
    found: list[dict[str, Any]] = policy["PolicyDocument"]["Statement"]
    return found


def actions(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


# -- the tools ----------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["shop_sam", "shop_sam_rest"])
def test_the_template_passes_cfn_lint(
    variant: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    out: Path = request.getfixturevalue(variant)
    cfn_lint = sam_tool("cfn-lint")

    done = subprocess.run(
        [str(cfn_lint), "--", str(out / "template.yaml")],
        capture_output=True,
        text=True,
        env=offline_aws_env(tmp_path),
        timeout=300,
    )

    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("variant", ["shop_sam", "shop_sam_rest"])
def test_the_template_passes_sam_validate_lint(
    variant: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    out: Path = request.getfixturevalue(variant)
    sam = sam_tool("sam")

    done = subprocess.run(
        [str(sam), "validate", "--lint", "--template-file", str(out / "template.yaml")],
        capture_output=True,
        text=True,
        cwd=out,
        env=offline_aws_env(tmp_path),
        timeout=300,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "is a valid SAM Template" in done.stdout + done.stderr


def test_cfn_lint_catches_a_broken_template(shop_sam: Path, tmp_path: Path) -> None:
    # the check above can fail: a queue with a visibility timeout past SQS's 12 hours
    cfn_lint = sam_tool("cfn-lint")
    broken = template(shop_sam)
    broken["Resources"]["RelayQueue"]["Properties"]["VisibilityTimeout"] = 50_000
    path = tmp_path / "template.yaml"
    path.write_text(yaml.safe_dump(broken, sort_keys=False))

    done = subprocess.run(
        [str(cfn_lint), "--", str(path)],
        capture_output=True,
        text=True,
        env=offline_aws_env(tmp_path),
        timeout=300,
    )

    assert done.returncode != 0
    assert "50000 is greater than the maximum of 43200" in done.stdout


# -- what the template says -----------------------------------------------------------------


def test_the_relay_queue_dead_letters_to_its_own_queue(shop_sam: Path) -> None:
    queue = resource(shop_sam, "RelayQueue")
    resources = template(shop_sam)["Resources"]

    assert resources["RelayDeadLetterQueue"]["Type"] == "AWS::SQS::Queue"
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["RelayDeadLetterQueue", "Arn"]
    }
    assert queue["RedrivePolicy"]["maxReceiveCount"] >= 1


def test_the_worker_reports_batch_item_failures_from_the_relay_queue(shop_sam: Path) -> None:
    worker = resource(shop_sam, "WorkerFunction")
    relay = worker["Events"]["Relay"]

    assert relay["Type"] == "SQS"
    assert relay["Properties"]["Queue"] == QUEUE_ARN
    assert relay["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_batch_and_timeouts_agree(shop_sam: Path) -> None:
    from shop import app

    worker = resource(shop_sam, "WorkerFunction")
    batch = worker["Events"]["Relay"]["Properties"]["BatchSize"]
    slowest = max(s.policy.timeout or 900 for s in app.subscriptions)
    visibility = resource(shop_sam, "RelayQueue")["VisibilityTimeout"]

    # a batch's records run one after another: the function outlasts them all
    assert 1 <= batch <= 10
    assert worker["Timeout"] >= batch * slowest
    assert worker["Timeout"] <= 900
    # a record is not handed out again while its batch may still run
    assert visibility >= 6 * worker["Timeout"]


def test_the_sweep_runs_every_minute_with_the_input_the_handler_knows(shop_sam: Path) -> None:
    sweep = resource(shop_sam, "WorkerFunction")["Events"]["Sweep"]

    assert sweep["Type"] == "ScheduleV2"
    assert sweep["Properties"]["ScheduleExpression"] == "rate(1 minute)"
    assert is_sweep_event(json.loads(sweep["Properties"]["Input"]))


def test_functions_run_on_arm64_unless_asked(shop_sam: Path, shop_sam_rest: Path) -> None:
    assert template(shop_sam)["Globals"]["Function"]["Architectures"] == ["arm64"]
    assert template(shop_sam_rest)["Globals"]["Function"]["Architectures"] == ["x86_64"]


def test_one_http_api_takes_every_route(shop_sam: Path) -> None:
    events = resource(shop_sam, "HttpFunction")["Events"]

    (event,) = events.values()
    assert event["Type"] == "HttpApi"
    assert "Path" not in event["Properties"]  # the $default route: every method and path
    assert template(shop_sam)["Resources"]["HttpApi"]["Type"] == "AWS::Serverless::HttpApi"


def test_a_rest_api_passes_every_media_type_as_binary(shop_sam_rest: Path) -> None:
    api = resource(shop_sam_rest, "RestApi")
    paths = {
        e["Properties"]["Path"] for e in resource(shop_sam_rest, "HttpFunction")["Events"].values()
    }

    assert api["BinaryMediaTypes"] == ["*~1*"]  # SAM's spelling of */*
    assert paths == {"/", "/{proxy+}"}


def test_the_http_function_may_only_send_to_the_queue_and_read_the_secret(
    shop_sam: Path,
) -> None:
    granted = statements(shop_sam, "HttpFunctionRole")
    by_resource = {json.dumps(s["Resource"], sort_keys=True): actions(s) for s in granted}

    assert by_resource == {
        json.dumps(QUEUE_ARN, sort_keys=True): {"sqs:SendMessage"},
        json.dumps(SECRET, sort_keys=True): {"secretsmanager:GetSecretValue"},
        json.dumps({"Fn::GetAtt": ["HttpFunctionLogs", "Arn"]}, sort_keys=True): {
            "logs:CreateLogStream",
            "logs:PutLogEvents",
        },
    }
    assert all(s["Effect"] == "Allow" for s in granted)
    assert "ManagedPolicyArns" not in resource(shop_sam, "HttpFunctionRole")
    http = resource(shop_sam, "HttpFunction")
    assert http["Role"] == {"Fn::GetAtt": ["HttpFunctionRole", "Arn"]}
    assert "Policies" not in http  # SAM adds no policy of its own to a given role


def test_the_worker_may_consume_and_send_on_the_queue_and_read_the_secret(
    shop_sam: Path,
) -> None:
    granted = statements(shop_sam, "WorkerFunctionRole")
    queue = set().union(*(actions(s) for s in granted if s["Resource"] == QUEUE_ARN))
    secret = set().union(*(actions(s) for s in granted if s["Resource"] == SECRET))
    elsewhere = [s for s in granted if s["Resource"] not in (QUEUE_ARN, SECRET)]

    assert queue == {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
        "sqs:SendMessage",
    }
    assert secret == {"secretsmanager:GetSecretValue"}
    assert [s["Resource"] for s in elsewhere] == [{"Fn::GetAtt": ["WorkerFunctionLogs", "Arn"]}]
    assert "*" not in json.dumps([s["Resource"] for s in granted])


def test_the_environment_names_the_queue_and_the_secret_but_holds_no_secret(
    shop_sam: Path,
) -> None:
    variables = template(shop_sam)["Globals"]["Function"]["Environment"]["Variables"]
    text = (shop_sam / "template.yaml").read_text()

    assert variables["FAASKIT_SQS_QUEUE_URL"] == {"Ref": "RelayQueue"}  # Ref: the URL
    assert variables["FAASKIT_SECRETS_ARN"] == SECRET
    assert variables["FAASKIT_HOME"].startswith("/tmp/")
    assert variables["FAASKIT_ENV"] == "production"
    assert 1 <= int(variables["FAASKIT_POSTGRES_POOL_SIZE"]) <= 2
    assert "FAASKIT_DATABASE_URL" not in variables
    assert "FAASKIT_SECRET_JWT_SIGNING_KEY" not in variables
    assert "resolve:secretsmanager" not in text


def test_the_output_holds_the_code_the_template_names(shop_sam: Path) -> None:
    function = template(shop_sam)["Globals"]["Function"]
    code = shop_sam / function["CodeUri"]
    module, _, attribute = function["Handler"].rpartition(".")

    assert (code / f"{module}.py").is_file() and attribute == "handler"
    assert (code / "shop" / "__init__.py").is_file()
    assert (code / "faaskit" / "store" / "postgres.sql").is_file()
    assert not list((code / "shop").rglob("__pycache__"))  # no stale cache of the app's
    required = (code / "requirements.txt").read_text().splitlines()
    assert "boto3>=1.34" in required and "psycopg[binary,pool]>=3.2" in required
    assert not [line for line in required if "pytest" in line or "extra ==" in line]


def test_faaskit_ships_with_bytecode_valid_whatever_the_file_times(shop_sam: Path) -> None:
    """A function's code folder is read-only: without shipped bytecode every cold start
    compiles faaskit again."""
    code = shop_sam / template(shop_sam)["Globals"]["Function"]["CodeUri"]
    sources = sorted((code / "faaskit").rglob("*.py"))
    if f"{sys.version_info.major}.{sys.version_info.minor}" != PYTHON:  # it would be unused
        assert not list((code / "faaskit").rglob("__pycache__"))
        return
    for source in sources:
        cached = Path(importlib.util.cache_from_source(str(source)))
        flags = int.from_bytes(cached.read_bytes()[4:8], "little")
        assert flags == 0b11, source  # hash-based and checked: mtimes do not matter


# -- apps of other shapes -----------------------------------------------------------------


def write_app(path: Path, body: str) -> Path:
    """A one-file app; its module name is the test's own (imports are cached per process)."""
    path.write_text(textwrap.dedent(body))
    return path


def test_an_http_only_app_gets_no_queue_worker_or_schedule(tmp_path: Path) -> None:
    source = write_app(
        tmp_path / "hello_service.py",
        """
        from faaskit import App

        app = App("hello")

        @app.get("/")
        async def hello() -> dict:
            return {"hello": "world"}
        """,
    )

    written = package(str(source), "aws-sam", tmp_path / "out")
    resources = template(tmp_path / "out")["Resources"]

    assert set(resources) == {"HttpApi", "HttpFunction", "HttpFunctionLogs", "HttpFunctionRole"}
    assert [item.name for item in written.items] == ["HttpFunction"]
    assert (tmp_path / "out" / "src" / "hello_service.py").is_file()
    assert "from hello_service import app" in (tmp_path / "out/src/faaskit_handler.py").read_text()


def test_a_slow_cron_makes_smaller_batches_and_is_listed(tmp_path: Path) -> None:
    source = write_app(
        tmp_path / "ticks_service.py",
        """
        from faaskit import App

        app = App("ticks")

        @app.cron("*/5 * * * *", timeout=300)
        async def tick() -> None:
            pass
        """,
    )

    written = package(str(source), "aws-sam", tmp_path / "out")
    worker = resource(tmp_path / "out", "WorkerFunction")
    batch = worker["Events"]["Relay"]["Properties"]["BatchSize"]

    assert worker["Timeout"] >= batch * 300 and batch < 10
    assert ("cron", "tick") in [(item.kind, item.name) for item in written.items]


# -- the generated handler, from the output alone -------------------------------------------


def test_the_handler_serves_the_shop_from_the_output_folder(shop_sam: Path, tmp_path: Path) -> None:
    code = shop_sam / "src"
    entry = EntryProcess("aws", code, served_environment(code, tmp_path), tmp_path / "aws.log")
    try:
        shop = ShopThroughLambda(entry, issuer(tmp_path))
        openapi = shop.answer("GET", "/openapi.json")
        shop_acceptance(shop)
    finally:
        entry.close()

    assert entry.faaskit_file.is_relative_to(code)  # the copy, not the repository's
    assert openapi["statusCode"] == 200
    assert json.loads(openapi["body"])["info"]["title"] == "faaskit shop"
    assert (tmp_path / "served.db").is_file()


def test_the_handler_reads_its_database_and_key_from_secrets_manager(
    shop_sam: Path, tmp_path: Path, aws_env: str, sqs_client: Any
) -> None:
    import boto3

    key = "s" * 40
    database = tmp_path / "from-secret.db"
    secret_arn = (
        boto3.session.Session()
        .client("secretsmanager", endpoint_url=aws_env)
        .create_secret(
            Name=f"shop/faaskit-{tmp_path.name}",
            SecretString=json.dumps(
                {"database-url": f"sqlite:///{database}", "jwt-signing-key": key}
            ),
        )["ARN"]
    )
    queue_url = sqs_client.create_queue(QueueName=f"relay-{tmp_path.name[-20:]}")["QueueUrl"]
    code = shop_sam / "src"
    env = served_environment(
        code,
        tmp_path,
        FAASKIT_SECRETS_ARN=secret_arn,
        FAASKIT_SQS_QUEUE_URL=queue_url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL_SECRETS_MANAGER=aws_env,
        AWS_ENDPOINT_URL_SQS=aws_env,
    )
    for name in ("FAASKIT_DATABASE_URL", "FAASKIT_SECRET_JWT_SIGNING_KEY"):
        del env[name]  # only the secret has them
    entry = EntryProcess("aws", code, env, tmp_path / "aws.log")
    try:
        shop = ShopThroughLambda(entry, issuer(tmp_path, key))
        registered, body = shop.request(
            "POST", "/register", body={"email": "sec@example.com", "name": "Sec Ret"}
        )
        path = f"/users/{body['user_id']}"
        staff = ("users:read", "users:staff")
        read, user = shop.request("GET", path, token=shop.token("staff-1", staff))
        forged = issuer(tmp_path / "other").mint("staff-1", staff)
        refused, _ = shop.request("GET", path, token=forged)
    finally:
        entry.close()
    relayed = sqs_client.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)

    assert registered == 201
    assert database.is_file()  # the secret's database-url
    assert (read, user["email"]) == (200, "sec@example.com")  # signed with the secret's key
    assert refused == 401  # and only with it
    assert relayed.get("Messages"), "the registration's deliveries were relayed to SQS"
    assert key not in (tmp_path / "aws.log").read_text()
    assert SIGNING_KEY not in env.values()
