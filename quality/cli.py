"""`tts-quality`: parse, build config, call the library, exit code."""
from __future__ import annotations

import click

from ttsops.cli import LazyGroup, run_main

SUBCOMMANDS = {
    "reference": "quality.commands.reference:reference",
    "score": "quality.commands.score:score",
    "regress": "quality.commands.regress:regress",
    "degrade": "quality.commands.degrade:degrade",
}


@click.group(cls=LazyGroup, lazy_subcommands=SUBCOMMANDS,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ttsops")
def cli() -> None:
    """Score generated speech and flag quality regressions.

    \b
    Exit codes:
      0  pass
      1  regression found (or some pairs could not be scored)
      2  usage error or unreadable input
    """


def main() -> None:
    run_main(cli, prog_name="tts-quality")


if __name__ == "__main__":
    main()
