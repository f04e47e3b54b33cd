"""`tts-engine`: parse, build config, call the library, exit code. Subcommands live one per module."""
from __future__ import annotations

import click

from ttsops.cli import LazyGroup, run_main

SUBCOMMANDS = {
    "synth": "engine.commands.synth:synth",
    "batch": "engine.commands.batch:batch",
    "backends": "engine.commands.backends:backends",
    "serve": "engine.commands.serve:serve",
    "health": "engine.commands.health:health",
    "doctor": "engine.commands.doctor:doctor",
    "supervise": "engine.commands.supervise:supervise",
}


@click.group(cls=LazyGroup, lazy_subcommands=SUBCOMMANDS,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ttsops")
def cli() -> None:
    """Offline text-to-speech engine with production-style logs, health checks and fault injection.

    Exit codes: 0 success, 1 some work failed (a batch task, a health check), 2 usage or bad input.
    """


def main() -> None:
    run_main(cli, prog_name="tts-engine")


if __name__ == "__main__":
    main()
