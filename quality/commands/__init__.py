"""One module per `tts-quality` subcommand (thin: parse, config, call, exit code)."""
