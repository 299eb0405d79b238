"""Exit codes, in one place (documented in `--help` and docs/cli.md)."""

OK = 0
PROBLEMS = 1  # the command ran and found problems (diagnostics, a stale file, failed records)
USAGE = 2  # the command line itself was wrong (click uses 2 as well)

EXIT_HELP = "Exit codes: 0 ok, 1 problems found, 2 usage error."

# `run` and `retry` add two (runtime/runner.py): a run stopped by an API limit, and a run that
# ended with writes the APIs kept refusing (429, 5xx, no answer) left pending in the outbox.
LIMIT = 3  # stopped by a limit (Pipedrive's daily budget): run again after its reset
PENDING = 4  # transient failures left pending: run again; nothing is lost
