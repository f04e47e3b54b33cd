"""HTML reports of regression runs: one renderer a mode behind :func:`write_html`."""
from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["write_html"]


def write_html(result: Any, path: str | Path, *, worst: int = 4, history: str | Path | None = None) -> Path:
    """Write the HTML report of a pair-mode or distribution-mode result; ``history`` (the
    ``--history`` JSON-lines file) adds the trend over past runs."""
    from quality.history import read_history  # noqa: PLC0415

    runs, skipped = read_history(history) if history is not None else (None, 0)
    if getattr(result, "mode", "pairs") == "distribution":
        from quality.report.distribution import write_distribution_html  # noqa: PLC0415

        return write_distribution_html(result, path, worst=worst, history=runs, skipped=skipped)
    from quality.report.pairs import write_pairs_html  # noqa: PLC0415

    return write_pairs_html(result, path, worst=worst, history=runs, skipped=skipped)
