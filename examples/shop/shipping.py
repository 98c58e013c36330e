"""A simulated carrier: a shipment is a document in ``shipments`` (id ``ship-{order_id}``),
created by the order saga and cancelled by its compensation.

The failure switch is the destination: the carrier does not ship to the countries in
``UNSERVED`` (a business failure: the order is cancelled and what came before undone).
"""

from __future__ import annotations

import hashlib
from typing import Any

from faaskit import Context, StepFailed
from shop.app import app

shipments = app.collection("shipments")

UNSERVED = frozenset({"AQ", "XX"})
"""Country codes the carrier does not serve (Antarctica; XX for tests and the demo)."""


async def create(
    ctx: Context, order_id: str, address: dict[str, Any], units: int
) -> dict[str, Any]:
    country = address["country"].upper()
    if country in UNSERVED:
        raise StepFailed(f"the carrier does not ship to {country}", country=country)
    shipment_id = f"ship-{order_id}"
    docs = ctx.documents(shipments)
    existing = await docs.get(shipment_id)
    if existing is not None:  # made already (by this step's idempotency): the same one
        return {"shipment_id": shipment_id, "tracking_number": existing.data["tracking_number"]}
    tracking = "TRK-" + hashlib.sha256(ctx.idempotency_key().encode()).hexdigest()[:10].upper()
    docs.insert(
        shipment_id,
        {
            "order_id": order_id,
            "status": "created",
            "address": address,
            "units": units,
            "tracking_number": tracking,
            "created_at": ctx.now().isoformat(),
        },
    )
    return {"shipment_id": shipment_id, "tracking_number": tracking}


async def cancel(ctx: Context, shipment_id: str) -> dict[str, Any]:
    docs = ctx.documents(shipments)
    shipment = await docs.get(shipment_id)
    if shipment is None or shipment.data["status"] != "created":
        return {"cancelled": None}
    changed = {**shipment.data, "status": "cancelled", "cancelled_at": ctx.now().isoformat()}
    docs.update(shipment_id, changed, expected_version=shipment.version)
    return {"cancelled": shipment_id}
