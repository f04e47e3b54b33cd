"""Logs as a ``pandas.DataFrame`` for notebooks: one row a record, fields as columns, templates mined."""
from __future__ import annotations

import json
import os
from typing import Any, Sequence

from analyzer.read.reader import read_records
from analyzer.read.stats import ReadStats

__all__ = ["load_logs"]


def load_logs(paths: Sequence[str | os.PathLike[str]] | str, *, log_format: str | None = None,
              templates: bool = True, template_config: Any = None, state_dir: str | os.PathLike[str] | None = None,
              stats: ReadStats | None = None, max_records: int | None = None):
    """All records as a ``pandas.DataFrame``: one row a record, columns ``time, level, message, file,
    line`` then the structured fields, ``traceback`` and (``templates=True``) ``template_id``,
    ``template`` from :class:`analyzer.templates.TemplateMiner`. ``df.attrs["read_stats"]`` holds the
    :class:`ReadStats`."""
    import pandas as pd

    stats = stats if stats is not None else ReadStats()
    miner = None
    if templates:
        from analyzer.templates import TemplateConfig, TemplateMiner
        miner = TemplateMiner(template_config or TemplateConfig(), state_dir=state_dir)
    rows: list[dict[str, Any]] = []
    for rec in read_records(paths, log_format=log_format, stats=stats):
        row: dict[str, Any] = {"time": rec.time, "level": rec.level, "message": rec.message,
                               "file": rec.file, "line": rec.line}
        for k, v in rec.fields.items():
            if k not in row:
                row[k] = v if not isinstance(v, (dict, list)) else json.dumps(v, default=str)
        row["traceback"] = rec.traceback
        if miner is not None:
            m = miner.add(rec.message)
            row["template_id"] = m.template_id
            row["template"] = None
        rows.append(row)
        if max_records is not None and len(rows) >= max_records:
            break
    df = pd.DataFrame(rows)
    if miner is not None:
        if len(df):
            # fold ids handed out while streaming into their final ids (same as `templates` batch ids)
            df["template_id"] = df["template_id"].map(miner.canonical).astype("int64")
            final = miner.templates()
            df["template"] = df["template_id"].map(final)
        else:
            df["template_id"] = pd.Series(dtype="int64")
            df["template"] = pd.Series(dtype="object")
        if state_dir is not None:
            miner.save()
    if len(df) and "time" in df:
        df["time"] = pd.to_datetime(df["time"], utc=True)
    df.attrs["read_stats"] = stats
    return df
