"""The `syncmap` command line.

Subcommands are imported only when invoked, so `syncmap check` never pays for httpx, the
runtime or the sandbox (it must stay well under half a second as a whole process).
"""

from __future__ import annotations

import importlib

import click

from syncmap.runtime.cli.exits import EXIT_HELP

# name -> "module:attribute" of a click command; one line per command.
COMMANDS: dict[str, str] = {
    "check": "syncmap.runtime.cli.check_cmd:check",
    "compile": "syncmap.runtime.cli.compile_cmd:compile",
    "demo": "syncmap.runtime.cli.demo_cmd:demo",
    "explain": "syncmap.runtime.cli.explain_cmd:explain",
    "fmt": "syncmap.runtime.cli.fmt_cmd:fmt",
    "retry": "syncmap.runtime.cli.retry_cmd:retry",
    "run": "syncmap.runtime.cli.run_cmd:run",
    "sandbox": "syncmap.runtime.cli.sandbox_cmd:sandbox",
    "status": "syncmap.runtime.cli.status_cmd:status",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        return getattr(importlib.import_module(module_name), attr)


@click.group(cls=LazyGroup, epilog=EXIT_HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="syncmap")
def cli() -> None:
    """Compile Pipedrive <-> Autopilot mappings and keep both systems in sync."""


def main() -> None:
    cli()
