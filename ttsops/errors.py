"""One exception tree for the whole toolkit.

Messages name the file, line or field at fault and, where one exists, a fix. The CLIs turn any
``TtsopsError`` into one line on stderr and a non-zero exit code (see ``ttsops.cli``).
"""
from __future__ import annotations

__all__ = ["TtsopsError", "InputError", "ConfigError", "BackendError"]


class TtsopsError(Exception):
    """Base of every error the toolkit raises on purpose.

    Parameters
    ----------
    message : str
        One line saying what is wrong.
    where : str, optional
        ``file``, ``file:line`` or ``field`` the error is about.
    fix : str, optional
        What the user can do about it.
    """

    exit_code = 2

    def __init__(self, message: str, *, where: str | None = None, fix: str | None = None):
        self.message = message
        self.where = where
        self.fix = fix
        super().__init__(self.one_line())

    def one_line(self) -> str:
        parts = [f"{self.where}: {self.message}" if self.where else self.message]
        if self.fix:
            parts.append(f"(fix: {self.fix})")
        return " ".join(parts)


class InputError(TtsopsError, ValueError):
    """Bad user input: a malformed file, an unknown speaker, a value out of range."""


class ConfigError(TtsopsError, ValueError):
    """A configuration value or file that cannot be used."""


class BackendError(TtsopsError, RuntimeError):
    """A synthesis back-end that cannot load or run (missing library, weights, corrupted model)."""
