"""Shared kernel of ttsops: the exception tree and CLI plumbing used by engine, analyzer and quality.

Nothing here imports engine, analyzer or quality: the three packages depend on this one only.
"""
from ttsops.errors import BackendError, ConfigError, InputError, TtsopsError

__version__ = "0.1.0"
__all__ = ["TtsopsError", "InputError", "ConfigError", "BackendError", "__version__"]
