"""`python -m headroom_cli`: the same as the `headroom` command."""

from headroom_cli import main

main()
