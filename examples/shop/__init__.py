"""The shop: faaskit's reference system (see README.md in this folder).

Importing the package registers every function on ``app``.
"""

from shop import lifecycle, mailroom, registration, tokens, users  # noqa: F401  (registers)
from shop.app import app

__all__ = ["app"]
