"""Render score rows as a rich table, JSON or CSV (shared by ``score`` and ``regress``)."""
from __future__ import annotations

import io
import json
import math
from typing import Any, Sequence

__all__ = ["rows_json", "rows_csv", "rows_table", "fmt"]

TABLE_COLUMNS = {"name": "name", "pesq_wb": "PESQ-WB", "pesq_nb": "PESQ-NB", "stoi": "STOI", "estoi": "ESTOI",
                 "f0_bias_cents": "F0 bias¢", "f0_rmse_cents": "F0 RMSE¢", "vde": "VDE", "mcd_dtw": "MCD dB",
                 "duration_ratio": "dur×", "leading_silence_delta_s": "lead Δs", "clipped_samples": "clipped",
                 "speaker_similarity": "spk sim", "dnsmos_sig": "DNSMOS SIG", "dnsmos_bak": "BAK",
                 "dnsmos_ovrl": "OVRL", "dnsmos_p808": "P.808", "error": "error"}


def fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return f"{v:.{digits}f}"
    return str(v)


def _present(v: Any) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def rows_json(rows: Sequence[dict[str, Any]]) -> str:
    from quality.score import clean_row  # noqa: PLC0415

    return json.dumps([clean_row(r) for r in rows], indent=2, ensure_ascii=False)


def rows_csv(rows: Sequence[dict[str, Any]]) -> str:
    from quality.score import rows_frame  # noqa: PLC0415

    buf = io.StringIO()
    rows_frame(list(rows)).to_csv(buf, index=False)
    return buf.getvalue()


def rows_table(rows: Sequence[dict[str, Any]], *, title: str = "scores", color: bool | None = None,
               file: bool = False) -> str | None:
    """Print the rows as a table (``color``: force colours on/off, None: the terminal decides); with
    ``file`` return the plain text instead (for ``-o FILE``)."""
    import io  # noqa: PLC0415
    import sys  # noqa: PLC0415

    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    def shown(c: str) -> bool:  # a metric nobody asked for (NaN in every row) takes no room
        return c in ("name", "error") or any(_present(r.get(c)) for r in rows)

    cols = [c for c in TABLE_COLUMNS if shown(c)]
    t = Table(title=title, show_lines=False)
    for c in cols:
        t.add_column(TABLE_COLUMNS[c], overflow="fold", max_width=60 if c == "error" else None,
                     justify="left" if c in ("name", "error") else "right")
    for r in rows:
        t.add_row(*(fmt(r.get(c), 1 if c.endswith("cents") else 3) for c in cols), style="red" if r.get("error") else None)
    if file:
        buf = io.StringIO()
        Console(file=buf, width=200, color_system=None).print(t)
        return buf.getvalue()
    Console(width=None if sys.stdout.isatty() else 200, force_terminal=color, no_color=color is False).print(t)
    return None
