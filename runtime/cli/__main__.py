"""`python -m syncmap.runtime.cli`: the same as the `syncmap` command."""

from syncmap.runtime.cli import main

main()
