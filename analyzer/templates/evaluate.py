"""Accuracy of a template assignment against ground truth (the Loghub / Loghub-2.0 measures).

* GA (grouping accuracy): a line is right iff the set of lines in its predicted group is exactly the
  set in its true group (Zhu et al., ICSE-SEIP 2019).
* FGA (F1 of group accuracy, Loghub-2.0, Jiang et al. 2024): precision = right groups / predicted
  groups, recall = right groups / true groups, a group right as above; their harmonic mean.
* PA (parsing accuracy): share of lines whose template text equals the true ``EventTemplate``.
"""
from __future__ import annotations

from collections import Counter
from typing import Hashable, Sequence

__all__ = ["grouping_scores", "parsing_accuracy", "score"]


def grouping_scores(pred: Sequence[Hashable], truth: Sequence[Hashable]) -> tuple[float, float]:
    """(GA, FGA) of predicted group ids ``pred`` against true ids ``truth`` (same length)."""
    if len(pred) != len(truth):
        raise ValueError(f"{len(pred)} predictions for {len(truth)} lines")
    if not truth:
        return 0.0, 0.0
    tc, pc = Counter(truth), Counter(pred)
    groups: dict[Hashable, set[Hashable]] = {}
    for p, t in zip(pred, truth):
        groups.setdefault(p, set()).add(t)
    lines = right = 0
    for p, ts in groups.items():
        if len(ts) == 1 and tc[next(iter(ts))] == pc[p]:
            lines += pc[p]
            right += 1
    precision, recall = right / len(pc), right / len(tc)
    fga = 2 * precision * recall / (precision + recall) if right else 0.0
    return lines / len(truth), fga


def parsing_accuracy(pred_templates: Sequence[str], truth_templates: Sequence[str]) -> float:
    """Share of lines whose template text is exactly the true one."""
    if len(pred_templates) != len(truth_templates):
        raise ValueError(f"{len(pred_templates)} templates for {len(truth_templates)} lines")
    if not truth_templates:
        return 0.0
    return sum(a == b for a, b in zip(pred_templates, truth_templates)) / len(truth_templates)


def score(pred_ids: Sequence[Hashable], pred_templates: Sequence[str], truth_ids: Sequence[Hashable],
          truth_templates: Sequence[str]) -> dict[str, float]:
    """``{"ga", "pa", "fga"}`` of one assignment."""
    ga, fga = grouping_scores(pred_ids, truth_ids)
    return {"ga": ga, "pa": parsing_accuracy(pred_templates, truth_templates), "fga": fga}
