"""One module per `tts-engine` subcommand (thin: parse, config, call, exit code)."""
