"""The `headroom` command line (`headroom_cli:main` is the console script).

Imports stay lazy: `headroom compress` in a shell pipeline should not pay for the proxy's
server stack, and `headroom proxy` should not pay for rich tables.
"""

from __future__ import annotations


def main() -> None:
    """Entry point of the `headroom` console script."""
    from headroom_cli._app import app

    app()


__all__ = ["main"]
