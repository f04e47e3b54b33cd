"""`tts-analyze`: parse, build config, call the library, exit code.

``tts-analyze PATH...`` runs the default ``analyze`` command; ``tts-analyze templates PATH...``
prints the logparser-style structured CSV.
"""
from __future__ import annotations

import click

from ttsops.cli import LazyGroup, run_main

SUBCOMMANDS = {
    "analyze": "analyzer.commands.analyze:analyze",
    "templates": "analyzer.commands.templates:templates",
}


@click.group(cls=LazyGroup, lazy_subcommands=SUBCOMMANDS, default_command="analyze",
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ttsops")
def cli() -> None:
    """Find incidents and their root causes in a folder of logs.

    \b
    Exit codes:
      0  nothing found
      1  incidents found
      2  usage error or unreadable input
    """


def main() -> None:
    run_main(cli, prog_name="tts-analyze")


if __name__ == "__main__":
    main()
