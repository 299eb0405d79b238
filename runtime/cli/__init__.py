"""The `syncmap` command line.

Subcommands are imported only when invoked, so `syncmap check` never pays for httpx, the
runtime or the sandbox (it must stay well under half a second as a whole process), and
`syncmap --help` lists them from the table below without importing any of them.
"""

from __future__ import annotations

import importlib
from typing import NamedTuple

import click

from syncmap.runtime.cli.exits import EXIT_HELP


class Entry(NamedTuple):
    target: str  # "module:attribute" of the click command
    summary: str  # the first paragraph of the command's help (a test keeps the two equal)


# One line per command: what to import when it runs, and what `syncmap --help` says about it.
COMMANDS: dict[str, Entry] = {
    "action": Entry("syncmap.runtime.cli.action_cmd:action", "Run one journey action of the mapping for one Autopilot contact."),
    "check": Entry("syncmap.runtime.cli.check_cmd:check", "Check mappings for syntax errors and broken rules."),
    "compile": Entry("syncmap.runtime.cli.compile_cmd:compile", "Compile a mapping into a sync plan (byte-identical for the same sources)."),
    "demo": Entry(
        "syncmap.runtime.cli.demo_cmd:demo",
        "Sync two local sandboxes (Pipedrive and Autopilot) with mappings/autopilot.syncmap and say what happened and why.",
    ),
    "explain": Entry(
        "syncmap.runtime.cli.explain_cmd:explain", "Explain a mapping in plain words (flows, rules, initial-sync cost), or a diagnostic code."
    ),
    "fmt": Entry("syncmap.runtime.cli.fmt_cmd:fmt", "Format mappings in the one canonical layout (comments are kept)."),
    "graph": Entry("syncmap.runtime.cli.graph_cmd:graph", "Draw a mapping (objects, flows, scopes, deletes, actions) as Mermaid or DOT."),
    "init": Entry("syncmap.runtime.cli.init_cmd:init", "Write a starter mapping from the fields, lists and activity types of live accounts."),
    "retry": Entry(
        "syncmap.runtime.cli.retry_cmd:retry", "Replay dead letters through the plan of the last run: records that sync now are resolved."
    ),
    "run": Entry("syncmap.runtime.cli.run_cmd:run", "Sync Pipedrive and Autopilot as the mapping (or compiled plan) says."),
    "sandbox": Entry("syncmap.runtime.cli.sandbox_cmd:sandbox", "Run local Pipedrive and Autopilot sandboxes in the foreground until Ctrl+C."),
    "serve": Entry(
        "syncmap.runtime.cli.serve_cmd:serve", "Keep Pipedrive and Autopilot in sync as changes happen (webhooks), and run journey actions."
    ),
    "status": Entry("syncmap.runtime.cli.status_cmd:status", "Links per pair, cursors, the last runs, and every open dead letter with its reason."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        entry = COMMANDS.get(name)
        if entry is None:
            return None
        module_name, attr = entry.target.split(":")
        command = getattr(importlib.import_module(module_name), attr)
        if not isinstance(command, click.Command):
            raise TypeError(f"{entry.target} is not a click command")  # a wrong entry in COMMANDS
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # click's own listing calls get_command for every name (importing them all, the sandbox
        # included) just to read one line each; the table has that line. Shortened as click does.
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [(name, click.Command(name, help=COMMANDS[name].summary).get_short_help_str(limit)) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, epilog=EXIT_HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="syncmap")
def cli() -> None:
    """Compile Pipedrive <-> Autopilot mappings and keep both systems in sync."""


def main() -> None:
    cli()
