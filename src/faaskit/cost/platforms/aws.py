"""AWS Lambda's bill: duration in GB-s over the architecture's tiers after the free tier,
requests, INIT duration of cold starts (billed for ZIP functions on managed runtimes since
2025-08-01), provisioned concurrency, and what sits in front of or beside the function: API
Gateway (HTTP or REST) or a function URL, SQS/SNS/EventBridge messages, Secrets Manager and
Parameter Store calls."""

from __future__ import annotations

from decimal import Decimal

from faaskit.cost.bill import Bill, LineItem
from faaskit.cost.catalog import Catalog
from faaskit.cost.money import SECONDS_PER_MONTH, ZERO, ceil_to
from faaskit.cost.tiers import per_unit, tiered_charge
from faaskit.cost.workload import Workload

__all__ = ["aws_extras", "aws_lambda", "gateway_items"]

_MS = Decimal(1)


def aws_lambda(workload: Workload, catalog: Catalog, *, free_tier: bool = True) -> Bill:
    """A month of ``workload`` on Lambda. Each invocation is billed to the next 1 ms (the
    mean duration is rounded up, an estimate of rounding each one)."""
    w = workload
    ms = ceil_to(w.duration_ms, _MS)
    invoke_gbs = w.requests * ms / 1000 * w.memory_gb
    init_gbs = w.cold_starts * ceil_to(w.init_ms, _MS) / 1000 * w.memory_gb
    notes: list[str] = []
    # The free tier does not apply to functions with provisioned concurrency.
    free = free_tier and w.provisioned == 0
    items = (
        _provisioned(w, catalog, invoke_gbs, notes)
        if w.provisioned
        else _on_demand(w, catalog, invoke_gbs, init_gbs, free)
    )
    items.append(_requests(w, catalog, free))
    items.extend(gateway_items(w, catalog, free_tier=free_tier))
    items.extend(aws_extras(w, catalog, free_tier=free_tier))
    if free_tier and w.gateway in ("http", "rest"):
        notes.append("API Gateway's free tier lasts the first 12 months of a new account")
    return Bill("aws-lambda", items, free_tier, notes)


def _on_demand(
    w: Workload, catalog: Catalog, invoke_gbs: Decimal, init_gbs: Decimal, free: bool
) -> list[LineItem]:
    tiers = catalog.tiers("aws.lambda.duration", w.arch)
    allowance = catalog.quantity("aws.lambda.free.duration") if free else ZERO
    amount, covered = tiered_charge(tiers, invoke_gbs, free=allowance)
    items = [
        LineItem(
            "compute",
            invoke_gbs,
            "GB-s",
            amount,
            f"{w.requests:,} x {ceil_to(w.duration_ms, _MS)} ms x {w.memory_mb} MB "
            f"({w.arch}); free {allowance:,} GB-s",
            covered,
            ("aws.lambda.duration", "aws.lambda.free.duration"),
        )
    ]
    if init_gbs:
        # INIT is billed like duration and counts towards the same tiers and free tier.
        amount, covered = tiered_charge(tiers, init_gbs, start=invoke_gbs, free=allowance)
        items.append(
            LineItem(
                "INIT",
                init_gbs,
                "GB-s",
                amount,
                f"{w.cold_starts:,.0f} cold starts x {ceil_to(w.init_ms, _MS)} ms",
                covered,
                ("aws.lambda.init", "aws.lambda.duration"),
            )
        )
    return items


def _provisioned(
    w: Workload, catalog: Catalog, invoke_gbs: Decimal, notes: list[str]
) -> list[LineItem]:
    standby = catalog.price("aws.lambda.provisioned.standby", w.arch)
    duration = catalog.price("aws.lambda.provisioned.duration", w.arch)
    configured_gbs = w.provisioned * w.memory_gb * SECONDS_PER_MONTH
    notes.append(
        "provisioned environments are initialised ahead of traffic (no INIT line); "
        "traffic is assumed to fit within them"
    )
    return [
        LineItem(
            "provisioned concurrency",
            configured_gbs,
            "GB-s",
            configured_gbs * standby.price,
            f"{w.provisioned} x {w.memory_mb} MB x 730 h",
            keys=(standby.key,),
        ),
        LineItem(
            "compute",
            invoke_gbs,
            "GB-s",
            invoke_gbs * duration.price,
            f"{w.requests:,} x {ceil_to(w.duration_ms, _MS)} ms x {w.memory_mb} MB "
            "at the provisioned duration rate",
            keys=(duration.key,),
        ),
    ]


def _requests(w: Workload, catalog: Catalog, free: bool) -> LineItem:
    row = catalog.price("aws.lambda.requests")
    allowance = catalog.quantity("aws.lambda.free.requests") if free else ZERO
    amount, covered = tiered_charge([row], Decimal(w.requests), free=allowance)
    return LineItem(
        "requests",
        Decimal(w.requests),
        "requests",
        amount,
        f"${row.price} per million; free {allowance:,}",
        covered,
        (row.key, "aws.lambda.free.requests"),
    )


def gateway_items(w: Workload, catalog: Catalog, *, free_tier: bool = True) -> list[LineItem]:
    """What the HTTP front door costs: API Gateway HTTP or REST API requests over their
    tiers, or a function URL (no charge beyond Lambda's own)."""
    if w.gateway == "none":
        return []
    if w.gateway == "url":
        row = catalog.price("aws.lambda.url")
        return [
            LineItem(
                "gateway",
                Decimal(w.requests),
                "requests",
                w.requests * per_unit(row),
                "function URL",
                keys=(row.key,),
            )
        ]
    key = f"aws.apigateway.{w.gateway}"
    allowance = catalog.quantity("aws.apigateway.free.requests") if free_tier else ZERO
    amount, covered = tiered_charge(catalog.tiers(key), Decimal(w.requests), free=allowance)
    return [
        LineItem(
            "gateway",
            Decimal(w.requests),
            "requests",
            amount,
            f"API Gateway {w.gateway.upper()} API; free {allowance:,} (first 12 months)",
            covered,
            (key, "aws.apigateway.free.requests"),
        )
    ]


_QUEUES = {
    "sqs": ("aws.sqs.standard", "aws.sqs.free.requests"),
    "sns": ("aws.sns.publish", "aws.sns.free.requests"),
    "eventbridge": ("aws.eventbridge.custom", None),
}


def aws_extras(w: Workload, catalog: Catalog, *, free_tier: bool = True) -> list[LineItem]:
    """Messages the function publishes and the secrets it reads, per request."""
    items: list[LineItem] = []
    if w.queue != "none" and w.messages_per_request:
        key, free_key = _QUEUES[w.queue]
        messages = w.messages_per_request * w.requests
        allowance = catalog.quantity(free_key) if free_tier and free_key else ZERO
        amount, covered = tiered_charge([catalog.price(key)], messages, free=allowance)
        items.append(
            LineItem(
                "queue",
                messages,
                "requests",
                amount,
                f"{w.queue}: {w.messages_per_request} a request; free {allowance:,}",
                covered,
                (key,) if free_key is None else (key, free_key),
            )
        )
    calls = [
        ("secrets", "aws.secretsmanager.calls", w.secrets_calls_per_request, "Secrets Manager"),
        ("parameters", "aws.ssm.calls", w.parameter_calls_per_request, "Parameter Store"),
    ]
    for name, key, per_request, label in calls:
        if per_request:
            row = catalog.price(key)
            count = per_request * w.requests
            items.append(
                LineItem(
                    f"{name} calls",
                    count,
                    "requests",
                    count * per_unit(row),
                    f"{label}: {per_request} a request",
                    keys=(key,),
                )
            )
    if w.secrets_stored:
        row = catalog.price("aws.secretsmanager.secret")
        items.append(
            LineItem(
                "secrets stored",
                Decimal(w.secrets_stored),
                "secret-months",
                w.secrets_stored * row.price,
                "Secrets Manager",
                keys=(row.key,),
            )
        )
    return items
