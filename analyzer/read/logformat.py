"""logparser's header syntax (``<Date> <Time> <Level> <Content>``) for ``--log-format``: the Loghub
datasets and any plain format a user can describe in one line."""
from __future__ import annotations

import re

from ttsops.errors import InputError

__all__ = ["logformat_regex"]


def logformat_regex(log_format: str) -> tuple[re.Pattern[str], list[str]]:
    """logparser's header syntax (``<Date> <Time> <Level> <Content>``) -> (regex, header names).
    Literal parts are regex text (as in logparser: ``\\[<Pid>\\]``); runs of spaces match ``\\s+``."""
    headers: list[str] = []
    parts = re.split(r"(<[^<>]+>)", log_format)
    regex = ""
    for k, part in enumerate(parts):
        if k % 2 == 0:
            regex += re.sub(" +", r"\\s+", part)
        else:
            name = part.strip("<>").strip()
            if not re.fullmatch(r"[A-Za-z_]\w*", name):
                raise InputError(f"bad field name {part!r} in log format", where="--log-format",
                                 fix="use <Name> fields, e.g. '<Date> <Time> <Level> <Content>'")
            if name in headers:
                raise InputError(f"field {part} appears twice in log format", where="--log-format")
            headers.append(name)
            regex += f"(?P<{name}>.*?)" if name != "Content" else f"(?P<{name}>.*)"
    if "Content" not in headers:
        raise InputError("log format has no <Content> field", where="--log-format",
                         fix="end the format with <Content>, e.g. '<Date> <Time> <Level> <Content>'")
    try:
        return re.compile("^" + regex + "$", re.S), headers
    except re.error as exc:
        raise InputError(f"log format is not a valid pattern ({exc})", where="--log-format") from None
