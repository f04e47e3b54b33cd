"""Output of the programs TTS services run next to, as they print it: Go panics and runtime fatal
errors with their goroutine dumps, Rust panics (both message styles), Celery workers, glog's
``Check failed`` with its stack, Python logging's ``ts LEVEL [name] msg``, TensorRT's and Triton's
loggers, ``warnings`` lines under a Windows path with spaces. Each case checks the records: their
line spans, (inferred) levels, messages and fields; and every new pattern stays linear on 1 MiB."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from analyzer.pipeline import analyze
from analyzer.read import LineParser, ReadStats, read_records
from analyzer.read.classify import PANIC, STACK, WARN_LINE, line_kind


def _read(tmp_path: Path, text: str, name: str = "run.log") -> list:
    p = tmp_path / name
    p.write_bytes(text.encode("utf-8"))
    return list(read_records([p], stats=ReadStats(), merge=False))


def _spans(recs: list) -> list[tuple]:
    return [(r.line, r.end_line, r.level, r.inferred) for r in recs]


GO_NIL = ("2024/06/15 14:22:01 starting tts gateway on :8080\n"
          "panic: runtime error: invalid memory address or nil pointer dereference\n"
          "[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x48f4a6]\n"
          "\n"
          "goroutine 1 [running]:\n"
          "main.(*Server).handle(0x0, {0x4d2a40, 0xc000012345})\n"
          "\t/src/server/main.go:42 +0x26\n"
          "main.main()\n"
          "\t/src/server/main.go:17 +0x1d\n"
          "exit status 2\n")


def test_a_go_panic_is_one_critical_record_with_its_goroutine_dump(tmp_path: Path) -> None:
    recs = _read(tmp_path, GO_NIL)
    assert _spans(recs) == [(1, 1, None, False), (2, 10, "CRITICAL", True)]
    panic = recs[1]
    assert panic.message == "panic: runtime error: invalid memory address or nil pointer dereference"
    assert panic.traceback.startswith("panic: runtime error") and panic.traceback.endswith("exit status 2")
    assert "goroutine 1 [running]:\nmain.(*Server).handle(0x0, {0x4d2a40, 0xc000012345})\n" \
           "\t/src/server/main.go:42 +0x26" in panic.traceback
    assert panic.time is not None and panic.time.minute == 22   # the time of the log line before it
    inc = analyze([str(tmp_path / "run.log")]).incidents
    assert len(inc) == 1 and inc[0].root_cause.kb_id == "segfault"
    assert inc[0].root_cause.evidence[0].line == 2


def test_a_go_panic_with_several_goroutines_ends_where_the_service_goes_on(tmp_path: Path) -> None:
    text = ('panic: synth: voice "alloy" not loaded\n'
            "\n"
            "goroutine 34 gp=0xc000002380 m=0 mp=0x9e1e40 [running]:\n"
            "github.com/acme/tts/internal/synth.(*Pool).Get(0xc0001a2000, {0xc00001c0f0, 0x5})\n"
            "\t/app/internal/synth/pool.go:88 +0x1a5\n"
            "created by net/http.(*Server).Serve in goroutine 1\n"
            "\t/usr/local/go/src/net/http/server.go:3285 +0x4b4\n"
            "\n"
            "goroutine 1 [IO wait, 2 minutes]:\n"
            "internal/poll.runtime_pollWait(0x7f3c, 0x72)\n"
            "\t/usr/local/go/src/runtime/netpoll.go:345 +0x85\n"
            "...additional frames elided...\n"
            "exit status 2\n"
            "Loading voice alloy\n")
    recs = _read(tmp_path, text)
    assert _spans(recs) == [(1, 13, "CRITICAL", True), (14, 14, None, False)]
    assert recs[0].message == 'panic: synth: voice "alloy" not loaded'
    assert "goroutine 1 [IO wait, 2 minutes]:" in recs[0].traceback and "Loading" not in recs[0].raw


def test_a_go_runtime_fatal_error_and_a_logged_http_panic(tmp_path: Path) -> None:
    recs = _read(tmp_path, "fatal error: concurrent map writes\n\ngoroutine 7 [running]:\nmain.worker()\n"
                           "\t/src/main.go:20 +0x5c\ncreated by main.main in goroutine 1\n\t/src/main.go:30 +0x25\n")
    assert _spans(recs) == [(1, 7, "CRITICAL", True)] and recs[0].message == "fatal error: concurrent map writes"
    # net/http recovers a handler's panic and logs it with the goroutine's stack: one record
    text = ("2024/06/15 14:22:03 http: panic serving 10.0.0.7:51234: runtime error: index out of range [3] with length 3\n"
            "goroutine 34 [running]:\n"
            "net/http.(*conn).serve.func1()\n"
            "\t/usr/local/go/src/net/http/server.go:1898 +0xbe\n"
            "panic({0x6d1ea0?, 0x9a3e10?})\n"
            "\t/usr/local/go/src/runtime/panic.go:770 +0x132\n"
            "main.handler({0x7c5a38, 0xc0001c2000}, 0xc0001b8000)\n"
            "\t/app/main.go:21 +0x1d\n"
            "2024/06/15 14:22:04 request ok\n")
    recs = _read(tmp_path, text, "http.log")
    assert _spans(recs) == [(1, 8, "ERROR", True), (9, 9, None, False)]
    assert recs[0].message.startswith("http: panic serving 10.0.0.7:51234: runtime error: index out of range")
    assert recs[0].traceback.startswith("goroutine 34 [running]:\nnet/http.(*conn).serve.func1()")


@pytest.mark.parametrize("text,kb_id", [
    # Go's runtime gives up on RAM: a fatal error with its dump (not GPU memory)
    ("2024/06/15 14:22:01 loading voices\nfatal error: runtime: out of memory\n\nruntime stack:\n"
     "runtime.throw({0x4b1d2e?, 0x2000?})\n\t/usr/local/go/src/runtime/panic.go:1023 +0x5c\n", "cpu_oom_killed"),
    # Rust's allocation error handler, then the abort
    ("memory allocation of 1073741824 bytes failed\nAborted (core dumped)\n", "cpu_oom_killed"),
    # TensorRT's allocator on the GPU
    ("[06/15/2024-14:22:03] [TRT] [E] 1: [defaultAllocator.cpp::allocate::20] Error Code 1: Cuda Runtime "
     "(out of memory)\n", "cuda_oom"),
])
def test_runtime_out_of_memory_is_named(tmp_path: Path, text: str, kb_id: str) -> None:
    (tmp_path / "run.log").write_text(text, encoding="utf-8")
    inc = analyze([str(tmp_path / "run.log")]).incidents
    assert [i.root_cause.kb_id for i in inc][:1] == [kb_id]


@pytest.mark.parametrize("text,kb_id", [
    # a model half in fp16: the traceback ends in a conv of torch's, the message names two dtypes
    ('Traceback (most recent call last):\n  File "infer.py", line 88, in <module>\n'
     '    wav = model.inference(text, spk)\n'
     '  File "/opt/conda/lib/python3.10/site-packages/torch/nn/modules/conv.py", line 306, in _conv_forward\n'
     '    return F.conv1d(input, weight, bias, self.stride,\n'
     'RuntimeError: expected scalar type Half but found Float\n', "device_mismatch"),
    # an STFT window built on the GPU for audio left on the CPU
    ("RuntimeError: stft input and window must be on the same device but got self on cpu and window on cuda:0\n",
     "device_mismatch"),
    ("RuntimeError: Expected sample rate 16000, got 44100\n", "sample_rate_mismatch"),
    # a TensorRT engine of another TensorRT release
    ("[TRT] [E] 1: [stdArchiveReader.cpp::StdArchiveReader::32] Error Code 1: Serialization (Serialization "
     "assertion magicTagRead == kMAGIC_TAG failed.Magic tag does not match)\n"
     "[TRT] [E] 4: [runtime.cpp::deserializeCudaEngine::66] Error Code 4: Internal Error (Engine "
     "deserialization failed.)\n", "checkpoint_corrupt"),
    # a service that leaks temporary WAVs: uvicorn's traceback ends in the open of the next one
    ('ERROR:    Exception in ASGI application\nTraceback (most recent call last):\n'
     '  File "/app/server.py", line 51, in synthesize\n    with open(out_path, "wb") as f:\n'
     "OSError: [Errno 24] Too many open files: '/tmp/tts/utt_8812.wav'\n", "fd_exhausted"),
    ("2024/06/15 14:22:03 [crit] 31#31: accept4() failed (24: Too many open files)\n", "fd_exhausted"),
    # a request for a voice the model lacks: the lookup's KeyError ends the traceback
    ('Traceback (most recent call last):\n  File "/app/api.py", line 40, in tts\n'
     '    spk_emb = self.spk2info[speaker]\n'
     "KeyError: 'speaker_7'\n", "speaker_unknown"),
])
def test_dtype_device_rate_and_engine_errors_are_named(tmp_path: Path, text: str, kb_id: str) -> None:
    (tmp_path / "run.log").write_text(text, encoding="utf-8")
    inc = analyze([str(tmp_path / "run.log")]).incidents
    assert [i.root_cause.kb_id for i in inc][:1] == [kb_id]


def test_go_log_fatal_and_go_runs_exit_status(tmp_path: Path) -> None:
    recs = _read(tmp_path, "2024/06/15 14:22:03 listen tcp :8080: bind: address already in use\nexit status 1\n")
    assert _spans(recs) == [(1, 2, "ERROR", True)] and recs[0].traceback is None
    assert recs[0].message == "listen tcp :8080: bind: address already in use"


def test_a_rust_panic_new_style_takes_its_message_from_the_next_line(tmp_path: Path) -> None:
    text = ("thread 'main' panicked at src/main.rs:12:5:\n"
            "called `Option::unwrap()` on a `None` value\n"
            "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n")
    recs = _read(tmp_path, text)
    assert _spans(recs) == [(1, 3, "ERROR", True)]
    assert recs[0].message == "thread 'main' panicked at src/main.rs:12:5: called `Option::unwrap()` on a `None` value"
    assert recs[0].fields == {"thread": "main", "source": "src/main.rs:12:5"}
    inc = analyze([str(tmp_path / "run.log")]).incidents
    assert len(inc) == 1 and inc[0].root_cause.evidence[0].line == 1


def test_a_rust_panic_old_style_and_one_with_a_backtrace_under_cargo(tmp_path: Path) -> None:
    text = ("thread 'main' panicked at 'called `Result::unwrap()` on an `Err` value: Os { code: 2, kind: NotFound, "
            "message: \"No such file or directory\" }', src/main.rs:12:5\n"
            "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n")
    recs = _read(tmp_path, text)
    assert _spans(recs) == [(1, 2, "ERROR", True)] and recs[0].message == text.split("\n")[0]
    assert recs[0].fields == {"thread": "main", "source": "src/main.rs:12:5"}
    text = ("     Running `target/release/tts-gw`\n"
            "thread 'tokio-runtime-worker' panicked at src/synth.rs:88:14:\n"
            "assertion `left == right` failed\n"
            "  left: 22050\n"
            " right: 24000\n"
            "stack backtrace:\n"
            "   0: rust_begin_unwind\n"
            "             at /rustc/07dca489ac2d933c78d3c5158e3f43beefeb02ce/library/std/src/panicking.rs:645:5\n"
            "   1: core::panicking::panic_fmt\n"
            "note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.\n"
            "error: process didn't exit successfully: `target/release/tts-gw` (exit status: 101)\n")
    recs = _read(tmp_path, text, "cargo.log")
    assert _spans(recs) == [(1, 1, None, False), (2, 11, "ERROR", True)]
    assert recs[1].message == ("thread 'tokio-runtime-worker' panicked at src/synth.rs:88:14: "
                               "assertion `left == right` failed")
    assert recs[1].fields == {"thread": "tokio-runtime-worker", "source": "src/synth.rs:88:14"}
    assert " right: 24000\nstack backtrace:\n   0: rust_begin_unwind" in recs[1].traceback


def test_a_rust_panic_that_aborts_is_critical(tmp_path: Path) -> None:
    recs = _read(tmp_path, "thread 'main' panicked at src/main.rs:3:5:\nboom\nnote: run with `RUST_BACKTRACE=1` "
                           "environment variable to display a backtrace\nAborted (core dumped)\n")
    assert _spans(recs) == [(1, 4, "CRITICAL", True)] and recs[0].message.endswith(": boom")


def test_celery_worker_lines(tmp_path: Path) -> None:
    text = ("[2024-06-15 14:22:01,100: INFO/MainProcess] Task tts.synth[1c2d3e4f-5a6b-7c8d-9e0f-a1b2c3d4e5f6] received\n"
            "[2024-06-15 14:22:03,412: ERROR/ForkPoolWorker-1] Task tts.synth[1c2d3e4f-5a6b-7c8d-9e0f-a1b2c3d4e5f6] "
            "raised unexpected: RuntimeError('CUDA out of memory')\n"
            "Traceback (most recent call last):\n"
            '  File "/usr/local/lib/python3.10/site-packages/celery/app/trace.py", line 477, in trace_task\n'
            "    R = retval = fun(*args, **kwargs)\n"
            '  File "/app/tasks.py", line 12, in synth\n'
            "    raise RuntimeError('CUDA out of memory')\n"
            "RuntimeError: CUDA out of memory\n"
            "[2024-06-15 14:22:04,000: INFO/MainProcess] Task tts.synth[2c2d3e4f-5a6b-7c8d-9e0f-a1b2c3d4e5f6] "
            "succeeded in 1.2s: None\n"
            "[2024-06-15 14:22:05,000: WARNING/ForkPoolWorker-2] tts.synth[2c2d3e4f-5a6b-7c8d-9e0f-a1b2c3d4e5f6]: "
            "slow voice\n")
    recs = _read(tmp_path, text)
    assert _spans(recs) == [(1, 1, "INFO", False), (2, 8, "ERROR", False), (9, 9, "INFO", False),
                            (10, 10, "WARNING", False)]
    assert [r.fields for r in recs] == [{"process": "MainProcess"}, {"process": "ForkPoolWorker-1"},
                                        {"process": "MainProcess"}, {"process": "ForkPoolWorker-2"}]
    assert recs[1].message == ("Task tts.synth[1c2d3e4f-5a6b-7c8d-9e0f-a1b2c3d4e5f6] raised unexpected: "
                               "RuntimeError('CUDA out of memory')")
    assert recs[2].message == "Task tts.synth[2c2d3e4f-5a6b-7c8d-9e0f-a1b2c3d4e5f6] succeeded in 1.2s: None"
    assert (recs[1].time.hour, recs[1].time.minute, recs[1].time.second, recs[1].time.microsecond) == (14, 22, 3, 412000)
    assert recs[1].traceback.startswith("Traceback (most recent call last):")


def test_glog_check_failure_is_one_critical_record_with_its_stack(tmp_path: Path) -> None:
    text = ("I0615 14:22:01.000000  1234 model.cc:40] loading model /models/vits.onnx\n"
            "F0615 14:22:03.412345  1234 model.cc:88] Check failed: x == y (3 vs. 4) \n"
            "*** Check failure stack trace: ***\n"
            "    @     0x7f3c2a1b4c3d  google::LogMessage::Fail()\n"
            "    @     0x7f3c2a1b8a2e  google::LogMessage::SendToLog()\n"
            "    @     0x7f3c2a1b47f3  google::LogMessage::Flush()\n"
            "    @     0x7f3c2a1b9c1f  google::LogMessageFatal::~LogMessageFatal()\n"
            "    @     0x55d4c1a2b3c4  main\n"
            "    @     0x7f3c29b6ab97  __libc_start_main\n"
            "    @     0x55d4c1a2b0aa  _start\n"
            "Aborted (core dumped)\n")
    recs = _read(tmp_path, text)
    assert _spans(recs) == [(1, 1, "INFO", False), (2, 11, "CRITICAL", False)]
    fatal = recs[1]
    assert fatal.message == "Check failed: x == y (3 vs. 4) " and fatal.fields == {"source": "model.cc:88"}
    assert fatal.traceback.startswith("*** Check failure stack trace: ***\n    @     0x7f3c2a1b4c3d  google::LogMessage::Fail()")
    assert fatal.traceback.endswith("Aborted (core dumped)")


@pytest.mark.parametrize("line,level,message,fields", [
    # Python logging ``%(asctime)s %(levelname)s [%(name)s] %(message)s``
    ("2024-06-15 14:22:04,412 ERROR [tts.worker] synthesis failed for request 42", "ERROR",
     "synthesis failed for request 42", {"logger": "tts.worker"}),
    ("2024-06-15 14:22:04,412 [WARNING] [uvicorn.error] slow request", "WARNING", "slow request",
     {"logger": "uvicorn.error"}),
    # TensorRT's Python logger (8.x), trtexec, a line without time, TensorRT 7
    ("[06/15/2024-14:22:03] [TRT] [E] 1: [stdArchiveReader.cpp::StdArchiveReader::32] Error Code 1: Serialization "
     "(Serialization assertion magicTagRead == kMAGIC_TAG failed.Magic Tag does not match)", "ERROR",
     "1: [stdArchiveReader.cpp::StdArchiveReader::32] Error Code 1: Serialization (Serialization assertion "
     "magicTagRead == kMAGIC_TAG failed.Magic Tag does not match)", {"logger": "TRT"}),
    ("[06/15/2024-14:22:03] [TRT] [W] onnx2trt_utils.cpp:374: Your ONNX model has been generated with INT64 weights, "
     "while TensorRT does not natively support INT64. Attempting to cast down to INT32.", "WARNING",
     "onnx2trt_utils.cpp:374: Your ONNX model has been generated with INT64 weights, while TensorRT does not "
     "natively support INT64. Attempting to cast down to INT32.", {"logger": "TRT"}),
    ("[06/15/2024-14:22:04] [E] [TRT] 3: [runtime.cpp::deserializeCudaEngine::50] Error Code 3: API Usage Error",
     "ERROR", "3: [runtime.cpp::deserializeCudaEngine::50] Error Code 3: API Usage Error", {"logger": "TRT"}),
    ("[06/15/2024-14:22:04] [I] === Model Options ===", "INFO", "=== Model Options ===", {}),
    ("[TRT] [E] 4: [network.cpp::validate::2919] Error Code 4: Internal Error (Network must have at least one output)",
     "ERROR", "4: [network.cpp::validate::2919] Error Code 4: Internal Error (Network must have at least one output)",
     {"logger": "TRT"}),
    ("[TensorRT] ERROR: Network must have at least one output", "ERROR", "Network must have at least one output",
     {"logger": "TensorRT"}),
    ("[TensorRT] INTERNAL_ERROR: Assertion failed: cublasStatus == CUBLAS_STATUS_SUCCESS", "CRITICAL",
     "Assertion failed: cublasStatus == CUBLAS_STATUS_SUCCESS", {"logger": "TensorRT"}),
    # Triton with --log-format=ISO8601
    ("2024-06-15T14:22:05Z E 1 model_lifecycle.cc:638] failed to load 'tts' version 1: Internal: unable to create "
     "TensorRT engine", "ERROR", "failed to load 'tts' version 1: Internal: unable to create TensorRT engine",
     {"source": "model_lifecycle.cc:638"}),
])
def test_more_headers(line: str, level: str, message: str, fields: dict) -> None:
    kind, rec = LineParser().parse(line, "f", 1)
    assert kind == "rec" and (rec.level, rec.message, rec.fields) == (level, message, fields)


def test_tensorrt_times_are_read() -> None:
    _, rec = LineParser().parse("[06/15/2024-14:22:03] [TRT] [E] 1: Error Code 1: Serialization", "f", 1)
    assert rec.time is not None and (rec.time.year, rec.time.month, rec.time.day, rec.time.hour, rec.time.second) == \
        (2024, 6, 15, 14, 3)


def test_a_warning_under_a_windows_path_with_spaces(tmp_path: Path) -> None:
    text = (r"C:\Users\John Doe\miniconda3\envs\tts\lib\site-packages\torch\nn\utils\weight_norm.py:28: UserWarning: "
            "torch.nn.utils.weight_norm is deprecated in favor of torch.nn.utils.parametrizations.weight_norm.\n"
            '  warnings.warn("torch.nn.utils.weight_norm is deprecated in favor of '
            'torch.nn.utils.parametrizations.weight_norm.")\n')
    recs = _read(tmp_path, text)
    assert _spans(recs) == [(1, 2, "WARNING", True)]


@pytest.mark.parametrize("line,kind", [
    ("panic: runtime error: invalid memory address or nil pointer dereference", PANIC),
    ("fatal error: all goroutines are asleep - deadlock!", PANIC),
    ("thread '<unnamed>' panicked at src/lib.rs:7:9:", PANIC),
    ("goroutine 1 [running]:", STACK), ("goroutine 18 [chan receive, 3 minutes]:", STACK),
    ("*** Check failure stack trace: ***", STACK), ("stack backtrace:", STACK), ("exit status 2", STACK),
    (r"C:\Program Files\Python311\Lib\site-packages\x\y.py:3: FutureWarning: z", WARN_LINE),
])
def test_runtime_line_kinds(line: str, kind: int) -> None:
    assert line_kind(line) == kind


@pytest.mark.parametrize("line", ["goroutine leak detected in 3 tests", "exit status 0", "the panic: button",
                                  "thread pool panicked at startup"])
def test_lookalikes_are_plain_lines(tmp_path: Path, line: str) -> None:
    recs = _read(tmp_path, line + "\n")
    assert _spans(recs) == [(1, 1, None, False)] and recs[0].traceback is None


_MIB = 1 << 20


@pytest.mark.parametrize("line", [
    "panic: " + "a" * _MIB,
    "thread '" + "'" * _MIB,
    "thread 'main' panicked at " + "', " * (_MIB // 3),
    "thread 'main' panicked at src/main.rs:1:1:\n" + "a." * (_MIB // 2),
    "goroutine 1 " + "[" * _MIB,
    "goroutine 1 [" + "a" * _MIB,
    "panic: x\n" + "a(" * (_MIB // 2),
    "panic: x\n" + "a(" + ")" * _MIB + " x",
    "panic: x\nrax " + " " * _MIB + "x",
    "panic: x\n" + "\ta\n" * 5000 + "created by " * (_MIB // 11),
    "exit status " + "1" * _MIB + "x",
    "C:" + "\\a b" * (_MIB // 4) + ".p",
    "x.py" * (_MIB // 4),
    "[2024-06-15 14:22:03,412: ERROR/" + "a-" * (_MIB // 2),
    "2024-06-15 14:22:03,412 INFO [" + "a." * (_MIB // 2),
    "[06/15/2024-14:22:03] [TRT] " + "[TRT] " * (_MIB // 6),
    "[TRT] [E] " + "[" * _MIB,
    "[TensorRT] " * (_MIB // 11),
    "2024-06-15T14:22:05Z E 1 " + "a/" * (_MIB // 2),
])
def test_a_one_mib_runtime_line_reads_in_linear_time(tmp_path: Path, line: str) -> None:
    t0 = time.perf_counter()
    recs = _read(tmp_path, line + "\n")
    for ln in line.split("\n"):
        line_kind(ln)
    assert recs and time.perf_counter() - t0 < 60   # well under a second each; backtracking took minutes
