"""``faaskit package --target aws-sam``: an AWS SAM application from an App's declarations.

The output::

    template.yaml        the stack (below)
    README.md            how to create the secret, build and deploy
    src/                 the functions' code (CodeUri): faaskit_handler.py,
                         requirements.txt, faaskit/ and the app's own code

The stack: one HTTP function behind an HTTP API (or a REST API with every media type
binary, ``--api rest``) that serves the whole route table; when the app has subscribers,
tasks, crons or projections, a relay queue (SQS, with a dead-letter queue) that the
outbox sends each committed delivery's name to, a worker function triggered by it (with
``ReportBatchItemFailures``), and an EventBridge Scheduler schedule invoking the worker
with ``{"faaskit": "sweep"}`` every minute — which also drives the crons
(:mod:`faaskit.adapters.aws_messages`). Each function has a role of its own that may do
only what it needs: write its log group, send to (HTTP) or also consume (worker) the relay
queue, and read the one secret holding the database URL and the JWT signing key
(:mod:`faaskit.adapters.aws_secrets`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from faaskit.adapters.aws_messages import SWEEP_INPUT
from faaskit.adapters.aws_secrets import DATABASE_URL_KEY, SECRETS_ARN_VARIABLE
from faaskit.app import App
from faaskit.packaging.app_source import AppSource
from faaskit.packaging.defaults import LAMBDA_POOL_SIZE, PYTHON, environment
from faaskit.packaging.distribution import copy_faaskit, faaskit_version, requirements
from faaskit.packaging.output import Item, Output
from faaskit.packaging.readme import aws_readme
from faaskit.packaging.yaml_text import dump_yaml
from faaskit.platforms import TARGETS

__all__ = ["HANDLER_MODULE", "SamOptions", "WorkerTiming", "sam_template", "worker_timing"]

HANDLER_MODULE = "faaskit_handler"
CODE_FOLDER = "src"
SWEEP_RATE = "rate(1 minute)"
MAX_LAMBDA_TIMEOUT = 900
MAX_SQS_BATCH = 10  # larger batches need a batching window, which delays every message
RECEIVES_BEFORE_DEAD_LETTER = 5
_SECRET_ARN = r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+-[A-Za-z0-9]{6}$"


@dataclass(frozen=True)
class SamOptions:
    """``api``: ``http`` (HTTP API, payload 2.0) or ``rest`` (REST API, binary media
    types); ``architecture``: ``arm64`` or ``x86_64``; ``memory``: MB per function."""

    api: str = "http"
    architecture: str = "arm64"
    memory: int = 1024


@dataclass(frozen=True)
class WorkerTiming:
    """The worker's numbers, consistent with each other: a FIFO group's records run one
    after another (other records concurrently), so the function's timeout covers
    ``batch_size`` handlers at their longest, a batch of one group;
    the queue's visibility timeout is six times the function's (AWS's advice for SQS
    triggers), so a record is not handed out again while a batch still runs."""

    handler_timeout: float
    batch_size: int
    function_timeout: int
    visibility_timeout: int


def worker_timing(app: App) -> WorkerTiming:
    """The worker's batch size and timeouts for ``app``'s slowest delivered handler (a
    handler without a timeout counts as Lambda's 15 minutes)."""
    policies = [s.policy for s in app.subscriptions]
    policies += [t.policy for t in app.tasks.values()]
    policies += [c.policy for c in app.crons.values()]
    timeouts = [MAX_LAMBDA_TIMEOUT if p.timeout is None else p.timeout for p in policies]
    longest = max(timeouts, default=30.0)
    margin = 30  # start-up, the claim and the ack around the handlers
    batch = max(1, min(MAX_SQS_BATCH, math.floor((MAX_LAMBDA_TIMEOUT - margin) / longest)))
    function_timeout = min(MAX_LAMBDA_TIMEOUT, max(60, math.ceil(batch * longest) + margin))
    return WorkerTiming(longest, batch, function_timeout, 6 * function_timeout)


def write_sam(source: AppSource, out: Output, options: SamOptions) -> list[Item]:
    """Write the SAM application for ``source`` into ``out``; what it deploys."""
    app = source.app
    template = sam_template(app, options)
    out.text("template.yaml", dump_yaml(template))
    code = out.folder / CODE_FOLDER
    code.mkdir()
    out.text(f"{CODE_FOLDER}/{HANDLER_MODULE}.py", handler_module(source))
    out.lines(f"{CODE_FOLDER}/requirements.txt", requirements("aws"))
    out.copied(copy_faaskit(code))
    for path in source.copy_into(code):
        out.copied(path)
    out.text("README.md", aws_readme(app, options, worker=app.has_triggers))
    return summary(app, options)


def handler_module(source: AppSource) -> str:
    """The functions' handler module: both run ``faaskit_handler.handler``."""
    return f'''"""The Lambda handler of {source.app.title}
(written by `faaskit package --target aws-sam`).

Both functions of template.yaml run it: the HTTP function (API Gateway events) and the
worker (the relay queue's SQS batches and the sweep schedule's {json.dumps(SWEEP_INPUT)}).
"""

from faaskit.adapters.aws import lambda_handler
{source.import_line("faaskit_app")}

handler = lambda_handler(faaskit_app)
# Start-up (the secret, the store, the keys) in Lambda's init phase, not in the first event.
handler.start()
'''


def sam_template(app: App, options: SamOptions) -> dict[str, Any]:
    """The SAM template for ``app``, as data (``dump_yaml`` writes it)."""
    worker = app.has_triggers
    variables: dict[str, Any] = {
        **environment(LAMBDA_POOL_SIZE),
        SECRETS_ARN_VARIABLE: {"Ref": "SecretArn"},
    }
    if worker:
        variables["FAASKIT_SQS_QUEUE_URL"] = {"Ref": "RelayQueue"}
    parameters: dict[str, Any] = {
        "SecretArn": {
            "Type": "String",
            "Description": (
                "The full ARN of a Secrets Manager secret holding a JSON object with "
                f'"{DATABASE_URL_KEY}" (postgresql://...) and "jwt-signing-key"'
            ),
            "AllowedPattern": _SECRET_ARN,
            "ConstraintDescription": "the secret's full ARN (it ends in -XXXXXX)",
        },
    }
    resources: dict[str, Any] = {}
    resources.update(_http_resources(app, options, worker))
    if worker:
        parameters["WorkerMaxConcurrency"] = {
            "Type": "Number",
            "Default": 5,
            "MinValue": 2,
            "MaxValue": 1000,
            "Description": "At most this many worker environments at once (each holds "
            f"up to {LAMBDA_POOL_SIZE} PostgreSQL connections)",
        }
        resources.update(_worker_resources(worker_timing(app)))
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Description": f"{app.title}: written by faaskit package {faaskit_version()}",
        "Parameters": parameters,
        "Globals": {
            "Function": {
                "Runtime": f"python{PYTHON}",
                "Architectures": [options.architecture],
                "CodeUri": f"{CODE_FOLDER}/",
                "Handler": f"{HANDLER_MODULE}.handler",
                "MemorySize": options.memory,
                "Environment": {"Variables": variables},
            }
        },
        "Resources": resources,
        "Outputs": _outputs(options, worker),
    }


def _http_resources(app: App, options: SamOptions, worker: bool) -> dict[str, Any]:
    statements = [_secret_statement()]
    if worker:
        statements.append(_queue_statement(["sqs:SendMessage"]))
    if options.api == "rest":
        api = {
            "RestApi": {
                "Type": "AWS::Serverless::Api",
                "Properties": {
                    "StageName": "prod",
                    "EndpointConfiguration": {"Type": "REGIONAL"},
                    # every body reaches the function base64-encoded, byte for byte, and
                    # binary answers go back as sent ("~1" is SAM's "/")
                    "BinaryMediaTypes": ["*~1*"],
                },
            }
        }
        events = {
            "Root": {
                "Type": "Api",
                "Properties": {"RestApiId": {"Ref": "RestApi"}, "Path": "/", "Method": "ANY"},
            },
            "Proxy": {
                "Type": "Api",
                "Properties": {
                    "RestApiId": {"Ref": "RestApi"},
                    "Path": "/{proxy+}",
                    "Method": "ANY",
                },
            },
        }
    else:
        # no CORS here: the app's gateway answers preflights itself, as under faaskit dev
        api = {
            "HttpApi": {
                "Type": "AWS::Serverless::HttpApi",
                "Properties": {"Description": f"{app.title}: every route, one function"},
            }
        }
        events = {"Api": {"Type": "HttpApi", "Properties": {"ApiId": {"Ref": "HttpApi"}}}}
    return {
        **api,
        "HttpFunction": _function(
            f"{app.title}: the HTTP routes",
            "HttpFunction",
            int(TARGETS["aws"].timeout_seconds),  # API Gateway waits 29-30 s at most
            events,
        ),
        "HttpFunctionLogs": _log_group(),
        "HttpFunctionRole": _role("HttpFunctionLogs", statements),
    }


def _worker_resources(timing: WorkerTiming) -> dict[str, Any]:
    consume = [
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
    ]
    events = {
        "Relay": {
            "Type": "SQS",
            "Properties": {
                "Queue": {"Fn::GetAtt": ["RelayQueue", "Arn"]},
                "BatchSize": timing.batch_size,
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
                "ScalingConfig": {"MaximumConcurrency": {"Ref": "WorkerMaxConcurrency"}},
            },
        },
        "Sweep": {
            "Type": "ScheduleV2",
            "Properties": {
                "Description": "Relay what is due or was lost; run the crons; catch up "
                "the projections",
                "ScheduleExpression": SWEEP_RATE,
                "Input": json.dumps(SWEEP_INPUT),
                # a missed sweep is made good by the next one, a minute later
                "RetryPolicy": {"MaximumRetryAttempts": 0},
            },
        },
    }
    return {
        "WorkerFunction": _function(
            "Relayed deliveries, the sweep and the crons",
            "WorkerFunction",
            timing.function_timeout,
            events,
        ),
        "WorkerFunctionLogs": _log_group(),
        "WorkerFunctionRole": _role(
            "WorkerFunctionLogs",
            [_secret_statement(), _queue_statement([*consume, "sqs:SendMessage"])],
        ),
        "RelayQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "VisibilityTimeout": timing.visibility_timeout,
                "SqsManagedSseEnabled": True,
                # a relay that keeps failing ends where someone sees it; the store still
                # holds its delivery, which the sweep relays again when due
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": ["RelayDeadLetterQueue", "Arn"]},
                    "maxReceiveCount": RECEIVES_BEFORE_DEAD_LETTER,
                },
            },
        },
        "RelayDeadLetterQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {"MessageRetentionPeriod": 1_209_600, "SqsManagedSseEnabled": True},
        },
    }


def _function(description: str, name: str, timeout: int, events: dict[str, Any]) -> dict[str, Any]:
    return {
        "Type": "AWS::Serverless::Function",
        "Properties": {
            "Description": description,
            "Timeout": timeout,
            "Role": {"Fn::GetAtt": [f"{name}Role", "Arn"]},
            "LoggingConfig": {"LogGroup": {"Ref": f"{name}Logs"}},
            "Events": events,
        },
    }


def _log_group() -> dict[str, Any]:
    return {
        "Type": "AWS::Logs::LogGroup",
        "DeletionPolicy": "Delete",
        "UpdateReplacePolicy": "Delete",
        "Properties": {"RetentionInDays": 30},
    }


def _role(log_group: str, statements: list[dict[str, Any]]) -> dict[str, Any]:
    """A function's own role: no managed policy (SAM's SQS one allows every queue)."""
    logs = {
        "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": {"Fn::GetAtt": [log_group, "Arn"]},
    }
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            },
            "Policies": [
                {
                    "PolicyName": "faaskit",
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": [logs, *statements]},
                }
            ],
        },
    }


def _secret_statement() -> dict[str, Any]:
    return {
        "Effect": "Allow",
        "Action": "secretsmanager:GetSecretValue",
        "Resource": {"Ref": "SecretArn"},
    }


def _queue_statement(actions: list[str]) -> dict[str, Any]:
    return {
        "Effect": "Allow",
        "Action": actions,
        "Resource": {"Fn::GetAtt": ["RelayQueue", "Arn"]},
    }


def _outputs(options: SamOptions, worker: bool) -> dict[str, Any]:
    if options.api == "rest":
        url = "https://${RestApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/prod/"
    else:
        url = "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/"
    outputs: dict[str, Any] = {
        "ApiUrl": {"Description": "The app's base URL", "Value": {"Fn::Sub": url}},
        "HttpFunctionName": {"Value": {"Ref": "HttpFunction"}},
    }
    if worker:
        outputs["WorkerFunctionName"] = {"Value": {"Ref": "WorkerFunction"}}
        outputs["RelayQueueUrl"] = {"Value": {"Ref": "RelayQueue"}}
        outputs["RelayDeadLetterQueueUrl"] = {
            "Description": "Relay messages that kept failing (look here)",
            "Value": {"Ref": "RelayDeadLetterQueue"},
        }
    return outputs


def summary(app: App, options: SamOptions) -> list[Item]:
    """What the template deploys, one row each."""
    api = "REST API (binary media types */*)" if options.api == "rest" else "HTTP API"
    items = [
        Item("function", "HttpFunction", f"{api}: all {len(app.routes)} routes"),
    ]
    if not app.has_triggers:
        return items
    timing = worker_timing(app)
    triggers = (
        f"{len(app.subscriptions)} subscribers, {len(app.tasks)} tasks, "
        f"{len(app.crons)} crons, {len(app.projections)} projections"
    )
    items += [
        Item("function", "WorkerFunction", f"{triggers}; timeout {timing.function_timeout} s"),
        Item(
            "queue",
            "RelayQueue",
            f"SQS → WorkerFunction, batches of {timing.batch_size}, ReportBatchItemFailures, "
            f"visibility {timing.visibility_timeout} s",
        ),
        Item(
            "queue",
            "RelayDeadLetterQueue",
            f"after {RECEIVES_BEFORE_DEAD_LETTER} receives",
        ),
        Item("schedule", "Sweep", f"{SWEEP_RATE} → WorkerFunction {json.dumps(SWEEP_INPUT)}"),
    ]
    for cron in app.crons.values():
        items.append(Item("cron", cron.name, f"{cron.schedule} (UTC), run by the sweep"))
    return items
