"""Click options shared by several commands, declared once, and the one way commands
report a file they cannot read."""

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from syncmap.runtime.cli import exits

T = TypeVar("T")


def readable(path: str, read: Callable[[str], T]) -> T:
    """`read(path)`, or exit 2 with one clear line when the file is unreadable or not UTF-8."""
    try:
        return read(path)
    except UnicodeDecodeError:
        click.echo(f"error: {path} is not UTF-8 text", err=True)
    except OSError as exc:
        click.echo(f"error: cannot read {path}: {exc.strerror}", err=True)
    sys.exit(exits.USAGE)


def report_diagnostics(result: Any, output_format: str) -> None:
    """A compile result's diagnostics on stderr in `output_format`, for commands whose stdout is
    data (a plan, an explanation): whatever the format, nothing but that data reaches stdout."""
    if result.diagnostics:
        from syncmap.compiler.diagnostics import RENDERERS  # here: `run` and `status` share this module

        sys.stderr.write(RENDERERS[output_format](result.diagnostics, result.sources.texts))


format_option = click.option(
    "--format",
    "output_format",
    type=click.Choice(["human", "json", "github", "gitlab"]),
    default="human",
    show_default=True,
    help="human: text with the source line and a caret (stderr); json: a list of records; github: Actions annotations; "
    "gitlab: a code quality report.",
)

files_argument = click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))

# Commands whose output is data (a run's summary, the state) speak human or JSON, not annotations.
data_format_option = click.option(
    "--format",
    "output_format",
    type=click.Choice(["human", "json"]),
    default="human",
    show_default=True,
    help="human: a readable summary; json: one JSON document on stdout.",
)


state_option = click.option("--state", "state", type=click.Path(dir_okay=False), help="State file (default: in the user's data directory).")

full_scan_option = click.option(
    "--full-scan-every",
    type=click.FloatRange(min=0),
    default=3600.0,
    show_default=True,
    help="Seconds between full reads of Pipedrive, which find records deleted there.",
)
