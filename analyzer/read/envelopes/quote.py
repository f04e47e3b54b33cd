"""A log pasted as a Markdown quote (``> `` before every line, as GitHub issue threads show them).
Recognised per file (most lines quoted); the quote marks are removed."""
from __future__ import annotations

__all__ = ["QuotedPaste"]


class QuotedPaste:
    name = "quoted paste"

    @staticmethod
    def sniff(sample: list[str]) -> float:
        return sum(1 for s in sample if s.startswith(">")) / len(sample) if sample else 0.0

    @staticmethod
    def strip(text: str) -> tuple[str, None]:
        if text.startswith(">"):
            text = text[2:] if text.startswith("> ") else text[1:]
        return text, None
