"""Click options shared by several commands, declared once."""

import click

format_option = click.option(
    "--format",
    "output_format",
    type=click.Choice(["human", "json", "github"]),
    default="human",
    show_default=True,
    help="human: text with the source line and a caret (stderr); json: a list of records; github: Actions annotations.",
)

files_argument = click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
