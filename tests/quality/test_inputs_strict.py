"""Hostile inputs to `regress` (issue 14): a thresholds file with an unknown section or key, NaN, a
string or a boolean is exit 2 naming the key; a corrupt baseline manifest is exit 2; a missing one is
an explicit warning that the distribution check is off; a candidate absent from the baseline is
reported as such, never as "pass"."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.xdist_group("quality-strict")


def _run(capsys, *args):
    from quality.cli import cli
    from ttsops.cli import run_main

    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        run_main(cli, list(args), prog_name="tts-quality")
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


@pytest.fixture(scope="module")
def golden(tmp_path_factory):
    from quality.reference import build_reference

    d = tmp_path_factory.mktemp("strict")
    texts = d / "t.jsonl"
    texts.write_text(json.dumps({"name": "a", "input_text": "Please join the meeting at three.", "speaker": "en_male_1"})
                     + "\n" + json.dumps({"name": "b", "input_text": "你好,世界。", "speaker": "zh_female_1"}) + "\n",
                     encoding="utf-8")
    build_reference(texts, d / "refs", jobs=1)
    return d / "refs"


@pytest.mark.parametrize("toml,key", [
    ("[floorz]\npesq_wb_min = 3.0\n", "floorz"),
    ("[floors]\npesq_wb_minimum = 3.0\n", "floors.pesq_wb_minimum"),
    ("[floors]\npesq_wb_min = nan\n", "floors.pesq_wb_min"),
    ("[limits]\nmcd_dtw_max = inf\n", "limits.mcd_dtw_max"),
    ("[limits]\nvde_max = \"high\"\n", "limits.vde_max"),
    ("[limits]\nzero_frames_delta_max = true\n", "limits.zero_frames_delta_max"),
    ("[limits]\nzero_frames_delta_max = 2.5\n", "limits.zero_frames_delta_max"),
    ("[limits]\nmcd_dtw_max = -1\n", "limits.mcd_dtw_max"),
    ("[baseline]\nmin_margin = { pesq_wb = nan }\n", "baseline.min_margin.pesq_wb"),
    ("[baseline]\nmin_margin = { utmos = 0.5 }\n", "baseline.min_margin.utmos"),
    ("[distribution]\nalpha = 1.5\n", "distribution.alpha"),
    ("[distribution]\nmin_effect = { pitch = nan }\n", "distribution.min_effect.pitch"),
    ("[distribution]\nmin_effect = { loudness = 1.0 }\n", "distribution.min_effect.loudness"),
    ("[distribution]\nsigma = 2\n", "distribution.sigma"),
    ("floors = 3\n", "floors"),
])
def test_bad_thresholds_exit_2_naming_the_key(capsys, tmp_path, toml, key):
    f = tmp_path / "t.toml"
    f.write_text(toml, encoding="utf-8")
    tmp = tmp_path / "d"
    tmp.mkdir()
    code, _, err = _run(capsys, "regress", "--baseline", str(tmp), "--candidate", str(tmp), "--thresholds", str(f))
    assert code == 2 and key in err and str(f) in err, err
    assert err.count("\n") == 1            # one line, no traceback


def test_good_overrides_apply(tmp_path):
    from quality.thresholds import Thresholds, load_thresholds

    default = load_thresholds(None)
    assert default.distribution.min_effect["speaker_similarity"] > 0 and default.pesq_wb_min == 3.2
    p = tmp_path / "override.toml"
    p.write_text("[limits]\nspeaker_similarity_min = 0.7\n[distribution]\nalpha = 0.05\nmin_renders = 4\n"
                 "[distribution.min_effect]\npitch = 0.25\n", encoding="utf-8")
    t = Thresholds.from_toml(p)
    assert t.speaker_similarity_min == 0.7 and t.distribution.alpha == 0.05 and t.distribution.min_renders == 4
    assert t.distribution.min_effect["pitch"] == 0.25 and t.distribution.min_effect["dnsmos_ovrl"] == 0.2


def test_corrupt_and_missing_manifest(capsys, golden, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(golden, bad)
    for content, why in (("[1, 2]", "JSON object"), ('{"utterances": 3}', "utterances"), ("\xff\xfe", "")):
        (bad / "manifest.json").write_bytes(content.encode("latin-1"))
        code, _, err = _run(capsys, "regress", "--baseline", str(bad), "--candidate", str(golden))
        assert code == 2 and "manifest.json" in err and why in err, err
    (bad / "manifest.json").unlink()
    code, out, err = _run(capsys, "regress", "--baseline", str(bad), "--candidate", str(golden), "--format", "json")
    assert code == 0 and "no manifest.json" in err and "baseline-distribution detector is off" in err
    doc = json.loads(out)
    assert doc["verdict"] == "pass" and any("detector is off" in w for w in doc["warnings"])


def test_candidate_not_in_baseline_is_reported_not_passed(capsys, golden, tmp_path):
    cand = tmp_path / "cand"
    shutil.copytree(golden, cand)
    shutil.copy(cand / "a.wav", cand / "new_text.wav")
    code, out, _ = _run(capsys, "regress", "--baseline", str(golden), "--candidate", str(cand), "--format", "json")
    doc = json.loads(out)
    u = {x["name"]: x for x in doc["utterances"]}
    assert u["new_text"]["verdict"] == "unmatched" and "not in the baseline" in u["new_text"]["reasons"][0]
    assert doc["summary"] == {"pass": 2, "regression": 0, "error": 0, "unmatched": 1}
    assert code == 0 and doc["verdict"] == "pass"        # the two compared texts passed
    only_new = tmp_path / "only_new"
    only_new.mkdir()
    shutil.copy(golden / "a.wav", only_new / "zzz.wav")
    code, out, _ = _run(capsys, "regress", "--baseline", str(golden), "--candidate", str(only_new), "--format", "json")
    doc = json.loads(out)
    assert code == 1 and doc["verdict"] == "regression" and doc["summary"]["error"] == 2   # nothing compared


def test_pair_mode_on_a_sampling_baseline_is_refused(capsys, golden, tmp_path):
    s = tmp_path / "s"
    shutil.copytree(golden, s)
    man = json.loads((s / "manifest.json").read_text())
    man["sampling"] = {"temperature": 1.0, "renders": 4, "seeds": [0, 1, 2, 3]}
    (s / "manifest.json").write_text(json.dumps(man))
    code, _, err = _run(capsys, "regress", "--baseline", str(s), "--candidate", str(golden), "--mode", "pairs")
    assert code == 2 and "--mode distribution" in err
