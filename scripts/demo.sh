#!/usr/bin/env bash
# Run the demo: ./scripts/demo.sh [demo args...]
# Uses the same .venv as scripts/test.sh. Without CONTINUUM_DATABASE_URL and a
# broker configured, the demo brings up embedded Postgres and Redis of its own.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/_venv.sh
source scripts/_venv.sh
ensure_venv

exec python -m examples.demo "$@"
