#!/usr/bin/env bash
# The main demo (filled in as the engine, analyzer and quality land).
set -euo pipefail
echo "demo: nothing wired yet"
