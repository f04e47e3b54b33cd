"""`tts-engine synth TEXT -o out.wav`: one request, one WAV, one line of summary."""
from __future__ import annotations

import json
from pathlib import Path

import click

from engine.commands._options import (ENV, config_option, format_option, human_stream, log_dir_option,
                                      log_format_option, quiet_option, resolved_format, sentry_option, start_streams)

__all__ = ["synth"]


@click.command()
@click.argument("text")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path), required=True,
              help="WAV file to write (16-bit PCM; a regular file is replaced atomically, a FIFO or device is "
                   "written through, '-' is stdout; a symlink is followed only inside its own folder).")
@click.option("--speaker", default=None, help="Speaker name (see `tts-engine backends --speakers`).")
@click.option("--emotion", default="neutral", show_default=True,
              help="neutral, happy, sad, angry, calm or serious.")
@click.option("--duration-ratio", type=float, default=1.0, show_default=True,
              help="Duration factor in [0.75, 1.25] (1.25 = 25% slower).")
@click.option("--seed", type=int, default=None, help="Request seed (default: the config's).")
@click.option("--temperature", type=float, default=None,
              help="Sampled prosody in [0, 2] (F0, durations, energy drawn from --seed); 0 = deterministic.")
@click.option("--sampling", is_flag=True, help="Shorthand for --temperature 1.0.")
@click.option("--backend", default=None, envvar=ENV["backend"], show_envvar=True,
              help="espeak (default), kokoro or modelscope.")
@click.option("--ref-audio", type=click.Path(path_type=Path), default=None,
              help="Reference recording: output F0 mean/range matched to it.")
@log_dir_option(help="Where inference/service/health/console logs go.")
@config_option()
@click.option("--inject", default=None, metavar="SPEC",
              help="Fault injection: 'all', a list like 'cuda_oom,silent_output', or 'rate=0.3,faults=a+b'.")
@click.option("--verbose", "-v", is_flag=True, help="Also print log lines to stderr.")
@format_option
@quiet_option("No summary line (warnings and errors still go to stderr).")
@log_format_option
@sentry_option
def synth(text: str, output: Path, speaker: str | None, emotion: str, duration_ratio: float, seed: int | None,
          temperature: float | None, sampling: bool, backend: str | None, ref_audio: Path | None, log_dir: Path,
          config_path: Path | None, inject: str | None, verbose: bool, fmt: str | None, quiet: bool,
          log_format: str | None, sentry_dsn: str | None) -> int:
    """Speak TEXT into a WAV file (mixed Mandarin/English is split by script)."""
    from engine.config import EngineConfig, FaultConfig
    from engine.synth import Engine, SynthRequest

    cfg = EngineConfig.from_toml(config_path) if config_path else EngineConfig()
    streams = start_streams(log_format, sentry_dsn, cfg)
    if streams == "json" and str(output) == "-":
        raise click.UsageError("-o - writes the audio to stdout, where --log-format json writes the logs; "
                               "give a file name or --log-format text")
    cfg = cfg.with_(log_dir=log_dir, log_stderr=verbose or cfg.log_stderr)
    if inject is not None:
        cfg = cfg.with_(inject=FaultConfig.parse(inject, seed=cfg.seed if seed is None else seed))
    with Engine(cfg) as engine:
        engine.logs.capture_warnings()
        if engine.injector is not None:  # one request: start one incident of a configured kind now
            kind = engine.injector.trigger(immediate=True)
            click.echo(f"injecting {kind} (labels in {log_dir / 'labels.jsonl'})", err=True)
        res = engine.synthesize(SynthRequest(text=text, speaker=speaker, emotion=emotion,
                                             duration_ratio=duration_ratio, seed=seed, backend=backend,
                                             ref_audio=ref_audio, output=output,
                                             temperature=temperature if temperature is not None
                                             else 1.0 if sampling else 0.0))
    rec = res.record
    for w in rec.get("warnings", []):
        click.echo(f"warning: {w}", err=True)
    to_stdout = str(output) == "-"   # stdout carries the audio: the summary goes to stderr
    stream = click.get_text_stream("stderr") if to_stdout else human_stream(streams)
    if quiet:
        return 0
    if resolved_format(fmt) == "json":
        click.echo(json.dumps({"output": str(output), "request_id": res.request_id,
                               "audio_seconds": round(res.duration_s, 4), "sample_rate": res.sample_rate,
                               "speaker": rec["speaker"], "emotion": rec["emotion"],
                               "languages": rec.get("languages", []), "rtf": rec["rtf"], "log_dir": str(log_dir),
                               "warnings": rec.get("warnings", [])}, ensure_ascii=False), file=stream)
        return 0
    click.echo(f"{'<stdout>' if to_stdout else output}: {res.duration_s:.2f} s at {res.sample_rate} Hz, speaker {rec['speaker']}, "
               f"{rec['emotion']}, {'+'.join(rec.get('languages', []))}, rtf {rec['rtf']} "
               f"(request {res.request_id}, logs in {log_dir})", file=stream)
    return 0
