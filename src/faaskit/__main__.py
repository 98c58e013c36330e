"""``python -m faaskit`` is the ``faaskit`` command."""

from faaskit.cli import main

main()
