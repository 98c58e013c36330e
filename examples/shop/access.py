"""Access levels and the scopes each grants: the one table the shop's routes and its token
endpoint share.

A user's ``access`` (customer, support, admin) is separate from the profile's free-text job
``role``; tokens from ``POST /auth/token`` carry the scopes of the user's access level.
"""

from __future__ import annotations

READ, WRITE = "users:read", "users:write"
STAFF = "users:staff"
"""Read and change any user's account, not only one's own."""
ADMIN = "users:admin"
"""Grant access levels."""
ORDERS_READ, ORDERS_WRITE, ORDERS_ADMIN = "orders:read", "orders:write", "orders:admin"

SCOPES_BY_ACCESS: dict[str, tuple[str, ...]] = {
    "customer": (READ, ORDERS_READ, ORDERS_WRITE),
    "support": (READ, STAFF, ORDERS_READ),
    "admin": (READ, WRITE, STAFF, ADMIN, ORDERS_READ, ORDERS_WRITE, ORDERS_ADMIN),
}
