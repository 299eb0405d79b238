"""Exit codes, in one place (documented in `--help` and docs/cli.md)."""

OK = 0
PROBLEMS = 1  # the command ran and found problems (diagnostics, a stale file, failed records)
USAGE = 2  # the command line itself was wrong (click uses 2 as well)

EXIT_HELP = "Exit codes: 0 ok, 1 problems found, 2 usage error."
