"""The shop: faaskit's reference system (see README.md in this folder).

Importing the package registers every function on ``app``.
"""

from shop import (  # noqa: F401  (registers)
    inventory,
    lifecycle,
    mailroom,
    order_analytics,
    order_queries,
    order_routes,
    order_saga,
    order_views,
    order_workflow,
    payments,
    registration,
    tokens,
    users,
)
from shop.app import app

__all__ = ["app"]
