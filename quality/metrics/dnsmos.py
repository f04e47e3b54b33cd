"""DNSMOS (Microsoft's non-intrusive MOS predictor) through ``speechmos``: no reference needed.

The ``speechmos`` wheel ships the ONNX models (``speechmos/dnsmos_models/sig_bak_ovr.onnx`` for ITU-T
P.835 and ``model_v8.onnx`` for P.808); nothing is downloaded. Scores are MOS estimates on a 1-5 scale:

* ``dnsmos_sig``  P.835 speech signal quality (distortion of the voice itself),
* ``dnsmos_bak``  P.835 background (noise) quality: 5 = no audible noise,
* ``dnsmos_ovrl`` P.835 overall quality,
* ``dnsmos_p808`` P.808 overall MOS (an older single-score model).

The models read 9.01 s windows at 16 kHz, hopped by 1 s, and the scores are averaged over windows.
A shorter clip is doubled until it covers one window (a 4.2 s clip becomes 17 s and eight overlapping
windows), as ``speechmos`` and Microsoft's ``dnsmos_local.py`` do, so the figures compare with
published ones. That makes the cost per clip, not per second: ~0.4 s a window on one core.
Tiling a short clip to exactly one window would cost 1/3-1/8 of that but moves OVRL by up to 0.18 on
engine audio (measured), so we keep the reference behaviour.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from quality.audio import resample

__all__ = ["dnsmos_scores", "warm_up", "DNSMOS_KEYS", "WINDOW_S"]

DNSMOS_KEYS = ("dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl", "dnsmos_p808")
SR = 16000
WINDOW_S = 9.01
#: shorter than this, there is no speech to judge
MIN_SECONDS = 0.5
_MODEL: Any = None


def _model() -> Any:
    """speechmos's DNSMOS, with one-thread ONNX sessions (pairs are scored in parallel processes)."""
    global _MODEL
    if _MODEL is None:
        import os  # noqa: PLC0415

        import onnxruntime as ort  # noqa: PLC0415

        from quality._deps import legacy_import  # noqa: PLC0415

        mod = legacy_import("speechmos.dnsmos")

        class _DNSMOS(mod.DNSMOS):  # type: ignore[misc, name-defined]
            def __init__(self, primary: str, p808: str) -> None:
                opts = ort.SessionOptions()
                opts.intra_op_num_threads = 1
                opts.inter_op_num_threads = 1
                opts.log_severity_level = 3
                prov = ["CPUExecutionProvider"]
                self.primary_model_path = primary
                self.onnx_sess = ort.InferenceSession(primary, opts, providers=prov)
                self.p808_onnx_sess = ort.InferenceSession(p808, opts, providers=prov)

        base = os.path.join(os.path.dirname(mod.__file__), "dnsmos_models")
        _MODEL = _DNSMOS(os.path.join(base, "sig_bak_ovr.onnx"), os.path.join(base, "model_v8.onnx"))
    return _MODEL


def warm_up() -> None:
    """Load the models and run librosa's mel filterbank once (its first call costs ~2 s)."""
    m = _model()
    m.audio_melspec(np.zeros(int(WINDOW_S * SR) - 160, dtype=np.float32))


def dnsmos_scores(y: np.ndarray, *, sr: int) -> tuple[dict[str, float], str | None]:
    """DNSMOS P.835 SIG/BAK/OVRL and P.808 of one signal.

    Returns
    -------
    scores : dict
        :data:`DNSMOS_KEYS` -> MOS (1-5); NaN when the clip cannot be judged.
    error : str or None
        Why the scores are NaN (silent or shorter than 0.5 s).
    """
    nan = {k: math.nan for k in DNSMOS_KEYS}
    x = resample(np.asarray(y, dtype=np.float64), sr, SR)
    if len(x) < MIN_SECONDS * SR:
        return nan, f"dnsmos: {len(x) / SR:.2f} s is shorter than {MIN_SECONDS} s"
    if float(np.max(np.abs(x))) < 1e-3:
        return nan, "dnsmos: the signal is silent"
    out = _model()(np.clip(x, -1.0, 1.0).astype(np.float32), SR, False)
    return {"dnsmos_sig": float(out["sig_mos"]), "dnsmos_bak": float(out["bak_mos"]),
            "dnsmos_ovrl": float(out["ovrl_mos"]), "dnsmos_p808": float(out["p808_mos"])}, None
