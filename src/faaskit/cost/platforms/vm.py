"""An always-on VM fleet's bill: instance hours x count for a 730-hour month, plus a public
IPv4 address an instance, and the same queue and secrets charges a function would pay."""

from __future__ import annotations

from decimal import Decimal

from faaskit.cost.bill import Bill, LineItem
from faaskit.cost.catalog import Catalog
from faaskit.cost.money import HOURS_PER_MONTH
from faaskit.cost.platforms.aws import aws_extras
from faaskit.cost.workload import Workload

__all__ = ["vm_fleet_bill"]


def vm_fleet_bill(
    workload: Workload | None,
    catalog: Catalog,
    *,
    instance: str = "m7g.large",
    count: int = 1,
    public_ipv4: int | None = None,
    free_tier: bool = True,
    notes: tuple[str, ...] = (),
) -> Bill:
    """``count`` always-on ``instance`` VMs for a month, with ``public_ipv4`` addresses
    (default: one an instance)."""
    row = catalog.price(f"aws.ec2.{instance}")
    hours = HOURS_PER_MONTH * count
    addresses = count if public_ipv4 is None else public_ipv4
    items = [
        LineItem(
            "instances",
            hours,
            "instance-hours",
            hours * row.price,
            f"{count} x {instance} x 730 h at ${row.price}/h",
            keys=(row.key,),
        )
    ]
    if addresses:
        ip = catalog.price("aws.ec2.public_ipv4")
        ip_hours = HOURS_PER_MONTH * addresses
        items.append(
            LineItem(
                "public IPv4",
                ip_hours,
                "address-hours",
                ip_hours * ip.price,
                f"{addresses} x 730 h",
                keys=(ip.key,),
            )
        )
    if workload is not None:
        items.extend(aws_extras(workload, catalog, free_tier=free_tier))
    return Bill("vm", items, free_tier, list(notes))


def instance_vcpus(catalog: Catalog, instance: str) -> Decimal:
    """The vCPUs the catalog gives ``instance``."""
    row = catalog.price(f"aws.ec2.{instance}")
    return Decimal(row.vcpus or 1)
