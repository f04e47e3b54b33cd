"""WAV bad-input corpus: each case gets a clear per-file error (or a documented note) and the rest of
the directory is still scored."""
from __future__ import annotations

import math
import os
import struct

import numpy as np
import pytest
import soundfile as sf
from signals import speechlike

from quality.audio import AudioError, load
from quality.score import score_dirs

pytestmark = pytest.mark.xdist_group("quality-bad-inputs")

SR = 16000
GOOD = speechlike(sr=SR, dur=2.0)


def _wav(path, y=GOOD, sr=SR, subtype="PCM_16"):
    sf.write(str(path), y, sr, subtype=subtype)
    return path


def _truncated(path):
    _wav(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _header_only(path):
    _wav(path, np.zeros(0))


def _riff_garbage(path):
    path.write_bytes(b"RIFF\x24\x00\x00\x00WAVEjunkjunkjunk")


def _nan_float(path):
    y = GOOD.astype(np.float32).copy()
    y[100:110] = np.nan
    _wav(path, y, subtype="FLOAT")


# name -> (writer, expected: "error:<substring>" or "note:<substring>" or "ok")
CASES = {
    "empty_file": (lambda p: p.write_bytes(b""), "error:empty file"),
    "header_only": (_header_only, "error:0 frames"),
    "not_wav_text": (lambda p: p.write_text("hello, this is not audio\n"), "error:not a WAV"),
    "not_wav_flac": (lambda p: sf.write(str(p), GOOD, SR, format="FLAC"), "error:not a WAV"),
    "riff_garbage": (_riff_garbage, "error:WAV"),
    "truncated": (_truncated, "error:truncated"),
    "nan_samples": (_nan_float, "error:NaN"),
    "silent": (lambda p: _wav(p, np.zeros_like(GOOD)), "error:silent"),
    "too_short": (lambda p: _wav(p, GOOD[:1600]), "error:0.25"),
    "tiny_50_samples": (lambda p: _wav(p, GOOD[:50]), "error:"),
    "clipped": (lambda p: _wav(p, np.clip(GOOD * 8, -1, 1)), "ok"),
    "eight_bit": (lambda p: _wav(p, subtype="PCM_U8"), "note:8-bit"),
    "stereo": (lambda p: _wav(p, np.stack([GOOD, GOOD], axis=1)), "note:down-mixed"),
    "rate_96k": (lambda p: _wav(p, np.interp(np.arange(len(GOOD) * 6) / 6, np.arange(len(GOOD)), GOOD), 96000),
                 "note:96000 Hz"),
    "rate_22050": (lambda p: _wav(p, np.interp(np.arange(int(len(GOOD) * 22050 / SR)) * SR / 22050,
                                               np.arange(len(GOOD)), GOOD), 22050), "ok"),
    "float_over_full_scale": (lambda p: _wav(p, GOOD * 12, subtype="FLOAT"), "note:above full scale"),
    "dir_named_wav": (lambda p: p.mkdir(), "error:directory"),
    "dangling_symlink": (lambda p: os.symlink(p.parent / "does-not-exist.wav", p), "error:not found"),
}


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    ref = tmp_path_factory.mktemp("ref")
    deg = tmp_path_factory.mktemp("deg")
    for name, (writer, _) in CASES.items():
        _wav(ref / f"{name}.wav")
        writer(deg / f"{name}.wav")
    _wav(ref / "good.wav")
    _wav(deg / "good.wav")
    _wav(ref / "only_in_ref.wav")
    _wav(deg / "only_in_deg.wav")
    (deg / "notes.txt").write_text("ignored: not named .wav")
    frame = score_dirs(ref, deg, jobs=2, progress=False)
    rows = {}
    for r in frame.to_dict("records"):  # pandas turns None into NaN in object columns
        r["error"] = r["error"] if isinstance(r["error"], str) else None
        r["notes"] = r["notes"] if isinstance(r["notes"], str) else None
        rows[r["name"]] = r
    return rows


def test_corpus_size():
    assert len(CASES) + 2 >= 17


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_bad_input_is_handled(corpus, name):
    row = corpus[name]
    expect = CASES[name][1]
    kind, _, word = expect.partition(":")
    if kind == "error":
        assert row["error"], row
        assert word.lower() in row["error"].lower(), row["error"]
        assert "Traceback" not in row["error"] and "\n" not in row["error"]
        for m in ("pesq_wb", "stoi"):  # never a fake score
            assert row[m] is None or (isinstance(row[m], float) and (math.isnan(row[m]) or row[m] > 0.5))
    else:
        assert not row["error"], row["error"]
        assert row["pesq_wb"] > 1.0 and row["stoi"] > 0.5
        if kind == "note":
            assert word in (row["notes"] or ""), row["notes"]


def test_rest_of_run_goes_on(corpus):
    assert corpus["good"]["error"] is None and corpus["good"]["pesq_wb"] > 4.4
    assert "no candidate file" in corpus["only_in_ref"]["error"]
    assert "no reference file" in corpus["only_in_deg"]["error"]
    assert "notes" not in corpus


def test_clipped_candidate_counts_clipped_samples(corpus):
    assert corpus["clipped"]["clipped_samples"] > 1000


def test_load_error_names_the_file(tmp_path):
    p = tmp_path / "x.wav"
    p.write_bytes(b"")
    with pytest.raises(AudioError) as e:
        load(p)
    assert str(p) in str(e.value)


def test_truncated_header_detected(tmp_path):
    p = tmp_path / "t.wav"
    _truncated(p)
    with pytest.raises(AudioError, match="truncated"):
        load(p)
