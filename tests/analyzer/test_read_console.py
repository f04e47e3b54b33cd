"""Console output as people paste it: headers of the servers TTS runs behind, bare and chained
tracebacks, IPython tracebacks, exception and crash lines with no level, ANSI colours, tqdm bars,
CRLF, Windows paths, torchrun prefixes. Each case checks the records and their (inferred) levels."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from analyzer.pipeline import analyze
from analyzer.read import LineParser, ReadStats, read_records
from analyzer.read.classify import CRASH, EXC, OTHER, line_kind


def _read(tmp_path: Path, text: str, name: str = "paste.log") -> list:
    p = tmp_path / name
    p.write_bytes(text.encode("utf-8"))
    return list(read_records([p]))


@pytest.mark.parametrize("line,level,message", [
    ("[2024-06-15 14:22:03 +0800] [1234] [ERROR] Exception in worker process", "ERROR", "Exception in worker process"),
    ("INFO:     Uvicorn running on http://0.0.0.0:8000 (Press CTRL+C to quit)", "INFO",
     "Uvicorn running on http://0.0.0.0:8000 (Press CTRL+C to quit)"),
    ("ERROR:root:Error initializing model", "ERROR", "Error initializing model"),
    ("E1203 10:11:12.123456  4242 server.cc:88] listen failed", "ERROR", "listen failed"),
    ("[E ProcessGroupNCCL.cpp:475] [Rank 1] Watchdog caught collective operation timeout", "ERROR",
     "[Rank 1] Watchdog caught collective operation timeout"),
    ("[W:onnxruntime:Default, onnxruntime_pybind_state.cc:743 CreateExecutionProviderInstance] Failed", "WARNING",
     "Failed"),
    ("WARNING 12-01 10:11:12 [config.py:412] Casting torch.bfloat16 to torch.float16.", "WARNING",
     "Casting torch.bfloat16 to torch.float16."),
    ("2024-06-15T14:22:03.123456Z ERROR text_generation_launcher: Shard 0 failed", "ERROR",
     "text_generation_launcher: Shard 0 failed"),
    # TorchServe (log4j's padded level), nginx's error log and Go's log package (slashed dates),
    # Spring Boot, Flask
    ("2024-06-15T14:22:03,412 [INFO ] W-9000-tts_1.0-stdout MODEL_LOG - Loading model", "INFO",
     "W-9000-tts_1.0-stdout MODEL_LOG - Loading model"),
    ("2024/06/15 14:22:03 [error] 29#29: *1 connect() failed (111: Connection refused) while connecting to upstream",
     "ERROR", "29#29: *1 connect() failed (111: Connection refused) while connecting to upstream"),
    ("2024/06/15 14:22:03 starting tts gateway on :8080", None, "starting tts gateway on :8080"),
    ("2024-06-15 14:22:05.100 ERROR 1 --- [nio-8080-exec-1] o.a.c.c.C.[.[.[/].[dispatcherServlet]    : "
     "Servlet.service() threw exception", "ERROR", "Servlet.service() threw exception"),
    ("[2024-06-15 14:22:03,412] WARNING in app: slow request", "WARNING", "slow request"),
])
def test_server_headers(line: str, level: str, message: str) -> None:
    kind, rec = LineParser().parse(line, "f", 1)
    assert kind == "rec" and rec.level == level and rec.message == message


def test_header_fields_and_slashed_dates() -> None:
    _, rec = LineParser().parse("2024/06/15 14:22:03.412 starting", "f", 1)
    assert rec.time is not None and (rec.time.year, rec.time.month, rec.time.day, rec.time.microsecond) == (2024, 6, 15, 412000)
    _, rec = LineParser().parse("2024-06-15 14:22:03.412  INFO 1 --- [           main] o.s.b.w.e.TomcatWebServer  : "
                                "Tomcat started on port(s): 8080 (http)", "f", 1)
    assert rec.fields == {"pid": 1, "thread": "main", "logger": "o.s.b.w.e.TomcatWebServer"}


def test_gunicorn_keeps_its_offset() -> None:
    _kind, rec = LineParser().parse("[2024-06-15 14:22:03 +0800] [1] [INFO] Booting worker", "f", 1)
    assert rec.time.utcoffset().total_seconds() == 8 * 3600 and rec.time.hour == 14


@pytest.mark.parametrize("line", ["------------------- ERROR DETAILS ------------------------",
                                  "ERROR DETAILS below:", "If you are still having trouble, include the ERROR log"])
def test_error_in_a_banner_or_sentence_is_not_a_level(line: str) -> None:
    kind, rec = LineParser().parse(line, "f", 1)
    assert kind == "plain"


def test_bare_traceback_is_one_error_record_with_its_exception(tmp_path: Path) -> None:
    recs = _read(tmp_path, "Running on local URL:  http://127.0.0.1:7860\r\n"
                           "Traceback (most recent call last):\r\n"
                           '  File "D:\\GPT-SoVITS\\runtime\\lib\\site-packages\\gradio\\routes.py", line 321, in run\r\n'
                           "    output = await app.blocks.process_api(\r\n"
                           "             ^^^^^^^^^^^^^^^^^^^^^^^^^^^^\r\n"
                           "IndexError: string index out of range\r\n")
    assert [r.level for r in recs] == [None, "ERROR"]
    tb = recs[1]
    assert tb.message == "IndexError: string index out of range" and tb.inferred and tb.line == 2
    assert tb.fields["exception_type"] == "IndexError" and tb.traceback.count("\n") == 4


def test_chained_traceback_root_is_the_first_exception(tmp_path: Path) -> None:
    text = ("Traceback (most recent call last):\n  File \"net.py\", line 120, in start_server\n    s.bind(addr)\n"
            "PermissionError: [WinError 10013] An attempt was made to access a socket\n\n"
            "During handling of the above exception, another exception occurred:\n\n"
            "Traceback (most recent call last):\n  File \"webui.py\", line 786, in <module>\n    app.launch()\n"
            "OSError: Port 9874 is in use.\n")
    recs = _read(tmp_path, text)
    assert len(recs) == 1 and recs[0].message.startswith("PermissionError: [WinError 10013]")
    inc = analyze([str(tmp_path / "paste.log")]).incidents
    assert [i.root_cause.kb_id for i in inc] == ["port_in_use"]
    assert inc[0].root_cause.evidence[0].text.startswith("PermissionError") and inc[0].root_cause.evidence[0].line == 4


def test_ipython_traceback(tmp_path: Path) -> None:
    text = ("ValueError                                Traceback (most recent call last)\n"
            "[<ipython-input-9-2c663eac4724>](https://localhost:8080/#) in <cell line: 0>()\n"
            "----> 3 torch._dynamo.config.cache_size_limit = 64\n\n15 frames\n"
            "numpy/random/mtrand.pyx in init numpy.random.mtrand()\n\n"
            "ValueError: numpy.dtype size changed, may indicate binary incompatibility.\n")
    recs = _read(tmp_path, text)
    assert len(recs) == 1 and recs[0].message.startswith("ValueError: numpy.dtype size changed")
    assert recs[0].level == "ERROR" and recs[0].traceback.startswith("ValueError   ")


def test_traceback_pasted_without_indentation_and_a_long_message(tmp_path: Path) -> None:
    text = ('File "/x/melo/text/japanese.py", line 367, in <module>\n_TAGGER = MeCab.Tagger()\n'
            'File "/x/MeCab/__init__.py", line 135, in __init__\nraise RuntimeError(error_info(rawargs)) from ee\n'
            "RuntimeError: \n----------\n\nFailed initializing MeCab. Please see the README.\n\n"
            "[ifs] no such file or directory: /x/unidic/dicdir/mecabrc\n")
    recs = _read(tmp_path, text)
    assert len(recs) == 1 and recs[0].message == "RuntimeError: " and "mecabrc" in recs[0].traceback
    inc = analyze([str(tmp_path / "paste.log")]).incidents
    assert inc[0].root_cause.kb_id == "model_not_found"
    assert any(e.line == 10 and "mecabrc" in e.text for e in inc[0].root_cause.evidence)


def test_a_service_goes_on_after_an_exception_line(tmp_path: Path) -> None:
    """A plain stdout log: the lines after an exception line that begin like the service's own lines
    are its next records, not more of the exception's message; a message of several lines stays whole."""
    text = ("Loading model from /models/cosyvoice2-0.5b\n"
            "Generating:   5%|          | 2/36 [00:00<00:56, 12.05it/s]\n"
            "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 23.69 GiB total)\n"
            "Generating:  67%|██████    | 27/40 [00:58<00:35, 27.74it/s]\n"
            "Loading model from /models/sambert\n"
            "RuntimeError: CUDA error: device-side assert triggered\n"
            "CUDA kernel errors might be asynchronously reported at some other API call.\n"
            "For debugging consider passing CUDA_LAUNCH_BLOCKING=1.\n"
            "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.00 GiB (GPU 0; 23.69 GiB total)\n")
    recs = _read(tmp_path, text)
    assert [r.line for r in recs] == [1, 2, 3, 4, 5, 6, 9]
    assert [r.level for r in recs] == [None, None, "ERROR", None, None, "ERROR", "ERROR"]
    assert recs[5].raw.count("\n") == 2 and "CUDA_LAUNCH_BLOCKING" in recs[5].raw


def test_a_bare_exception_line_after_an_info_line_is_its_own_record(tmp_path: Path) -> None:
    """stderr interleaved with a server's log: an INFO access line does not carry an exception; a
    record that introduces one (``... failed:``) or an ERROR does."""
    text = ('INFO:     127.0.0.1:36091 - "POST /tts HTTP/1.1" 200 OK\n'
            "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 3.59 GiB\n"
            "ERROR:tts:synthesis failed:\n"
            "ValueError: speaker 'x' not found\n"
            "2024-06-15 14:22:03 INFO loading voices:\n"
            "FileNotFoundError: [Errno 2] No such file or directory: 'voices/x.pt'\n")
    recs = _read(tmp_path, text)
    assert [(r.line, r.level) for r in recs] == [(1, "INFO"), (2, "ERROR"), (3, "ERROR"), (5, "INFO")]
    assert "speaker 'x' not found" in recs[2].raw and "voices/x.pt" in recs[3].raw


def test_truncated_traceback_still_an_error(tmp_path: Path) -> None:
    recs = _read(tmp_path, 'Traceback (most recent call last):\n  File "train.py", line 677, in <module>\n'
                           "    main(args)\n")
    assert recs[0].level == "ERROR" and recs[0].message.startswith("traceback cut short at: main(args)")


@pytest.mark.parametrize("line,level", [
    ("Segmentation fault (core dumped)", "CRITICAL"), ("Killed", "CRITICAL"), ("Aborted (core dumped)", "CRITICAL"),
    ("非法指令 (核心已转储)", "CRITICAL"), ("./start.sh: line 3:  4242 Killed   python app.py", "CRITICAL"),
    ("torch.OutOfMemoryError: CUDA out of memory.", "ERROR"), ("RuntimeError", "ERROR"),
    ("CUDA error: an illegal memory access was encountered", "ERROR"), ("bash: sox: command not found", "ERROR"),
    ("/venv/x/modeling.py:12: FutureWarning: `resume_download` is deprecated", "WARNING"),
    ("Loading: 50%", None), ("Note: this is fine", None), ("Processing audio file: audio", None),
    ('Exception in thread "main" java.lang.OutOfMemoryError: Java heap space', "ERROR"),   # the JVM's uncaught one
])
def test_lines_that_are_errors_without_a_level(tmp_path: Path, line: str, level: str | None) -> None:
    assert _read(tmp_path, line + "\n")[0].level == level


def test_line_kinds_are_linear_on_hostile_lines() -> None:
    import time

    t0 = time.perf_counter()
    for unit in ("1.", "a.", "A.", "a", " ", "x: ", "File "):
        k = line_kind(unit * ((1 << 20) // len(unit)))
        assert k in (OTHER, EXC, CRASH) or k >= 0
    assert time.perf_counter() - t0 < 30.0


def test_console_noise_ansi_tqdm_rank_prefix(tmp_path: Path) -> None:
    text = ("\x1b[32m2024-06-15 10:00:00,001\x1b[0m - tts - \x1b[1;31mERROR\x1b[0m - synthesis failed\n"
            " 10%|█         | 1/10 [00:01<00:09]\r 50%|█████     | 5/10 [00:05<00:05]\r100%|██████████| 10/10\n"
            "[rank0]: Traceback (most recent call last):\n[rank0]:   File \"m.py\", line 3, in f\n"
            "[rank0]: torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 984.00 MiB.\n"
            "(RayWorker pid=4242) INFO loading shard 1\n")
    stats = ReadStats()
    p = tmp_path / "train.log"
    p.write_text(text, encoding="utf-8")
    recs = list(read_records([p], stats=stats))
    assert stats.bad_line_count == 0
    assert [r.message for r in recs] == ["synthesis failed", "100%|██████████| 10/10",
                                         "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 984.00 MiB.",
                                         "loading shard 1"]
    assert recs[0].level == "ERROR" and recs[2].level == "ERROR" and recs[3].level == "INFO"


def _cli(args: list[str], **kw) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("tts-analyze")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "analyzer.cli"]
    return subprocess.run(cmd + args, capture_output=True, timeout=120, **kw)


def test_paste_with_one_oom_traceback_is_one_incident(tmp_path: Path) -> None:
    """The issue's case: a 5-line paste with one OOM traceback: one incident, cause cuda_oom,
    evidence the OOM line, time unknown with its line span, exit 1."""
    p = tmp_path / "paste.log"
    p.write_text("Traceback (most recent call last):\n  File \"/app/infer.py\", line 88, in tts\n"
                 "    wav = model.inference(text, spk)\n"
                 "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 714.00 MiB.\n"
                 "Press any key to continue . . .\n", encoding="utf-8")
    r = _cli([str(p), "--format", "json"])
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    assert len(doc["incidents"]) == 1
    inc = doc["incidents"][0]
    assert inc["root_cause"]["kb_id"] == "cuda_oom" and inc["start"] is None and inc["time_known"] is False
    assert inc["root_cause"]["evidence"][0] == {"file": str(p), "line": 4, "text": "torch.OutOfMemoryError: CUDA out "
                                                "of memory. Tried to allocate 714.00 MiB."}
    assert inc["location"]["first_line"] == 1
    assert any("no timestamps and no log levels" in w for w in doc["warnings"])
    term = _cli([str(p), "--no-color"], env={"COLUMNS": "120", "PATH": "/usr/bin:/bin"})
    assert term.returncode == 1 and b"time unknown" in term.stdout and b"1970" not in term.stdout
    assert b"No incidents found" not in term.stdout


def test_killed_after_loading_is_cpu_oom(tmp_path: Path) -> None:
    p = tmp_path / "console.txt"
    p.write_text("Loading checkpoint shards:  50%|█████     | 1/2\nKilled\n", encoding="utf-8")
    assert [i.root_cause.kb_id for i in analyze([str(p)]).incidents] == ["cpu_oom_killed"]


def test_download_that_never_ends_is_a_stall(tmp_path: Path) -> None:
    p = tmp_path / "console.txt"
    p.write_text("Preloading models\nDownloading text model file https://huggingface.co/x/resolve/main/text_2.pt\n",
                 encoding="utf-8")
    inc = analyze([str(p)]).incidents
    assert [i.root_cause.kb_id for i in inc] == ["model_load_timeout"]
    assert inc[0].root_cause.title.startswith("Log ends during: Downloading")
    # a download that finished is no stall
    p.write_text("Downloading model.pt\nModel loaded in 3.2 s\n", encoding="utf-8")
    assert analyze([str(p)]).incidents == []


def test_a_jvm_stack_is_one_record_and_its_heap_is_ram_not_gpu(tmp_path: Path) -> None:
    recs = _read(tmp_path, 'Exception in thread "main" java.lang.OutOfMemoryError: Java heap space\n'
                           "\tat java.base/java.util.Arrays.copyOf(Arrays.java:3512)\n"
                           "\tat com.example.tts.Synth.run(Synth.java:88)\n"
                           "Caused by: java.io.IOException: Broken pipe\n\t... 3 more\n")
    assert len(recs) == 1 and recs[0].level == "ERROR" and recs[0].end_line == 5
    from analyzer.kb import load_kb
    assert load_kb().match_record(recs[0]).id == "cpu_oom_killed"
