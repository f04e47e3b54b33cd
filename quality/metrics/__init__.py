"""Scoring functions: intrusive (PESQ, STOI/ESTOI), pitch (F0), MCD-DTW, and non-intrusive signal checks.

Each module is imported on use; nothing heavy is imported here.
"""
__all__: list[str] = []
