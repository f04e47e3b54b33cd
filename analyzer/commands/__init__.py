"""One module per `tts-analyze` subcommand (thin: parse, config, call, exit code)."""
