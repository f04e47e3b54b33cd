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
    _one_line_warnings()


def _one_line_warnings() -> None:
    """A library warning is one ``warning: …`` line on stderr (once per message), never Python's raw
    two-line form with a source path. Commands that keep logs (synth) route warnings there instead."""
    import warnings

    seen: set[str] = set()

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001, ANN202
        text = str(message).strip().splitlines()[0] if str(message).strip() else category.__name__
        if text not in seen:
            seen.add(text)
            click.echo(f"warning: {text} ({category.__name__})", err=True)

    warnings.showwarning = show


def main() -> None:
    run_main(cli, prog_name="tts-engine")


if __name__ == "__main__":
    main()
