#!/usr/bin/env bash
# The project's test command, for people and CI alike (.ci/run calls it):
#   ./scripts/test.sh [pytest args...]
# Sets up .venv, makes sure Postgres, Redis and RabbitMQ answer on 127.0.0.1
# (starting the machine's own services if they don't), then runs ruff, mypy and
# pytest. Every step runs even after a failure, so one run shows all problems;
# the exit status is non-zero if any step failed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/_venv.sh
source scripts/_venv.sh

section() { printf '\n===== %s =====\n' "$*"; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
in_ci() { [[ -n "${CI:-}" && "${CI,,}" != "false" && "${CI}" != "0" ]]; }

tcp_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }
pg_up() {
    if command -v pg_isready >/dev/null; then pg_isready -q -h 127.0.0.1 -p 5432
    else tcp_open 127.0.0.1 5432; fi
}
redis_up() {
    if command -v redis-cli >/dev/null; then [[ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" == PONG ]]
    else tcp_open 127.0.0.1 6379; fi
}
rabbit_up() { tcp_open 127.0.0.1 5672; }

start_pg() {
    local version
    version="$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n 1)"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
}
start_redis() {
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
        --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
}
start_rabbit() { rabbitmq-server -detached; }

# The UI's browser tests drive Debian's Chromium (playwright cannot download one
# here). Installed only when missing, and only as root; without it those tests skip
# on a laptop and fail under CI.
ensure_chromium() {
    if [[ -x /usr/bin/chromium ]]; then
        echo "chromium: present"
        return 0
    fi
    if [[ $EUID -ne 0 ]] || ! command -v apt-get >/dev/null; then
        warn "/usr/bin/chromium is missing (apt-get install -y chromium); browser tests will skip"
        return 0
    fi
    echo "chromium: installing"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
        || warn "installing chromium failed; browser tests will fail under CI"
}

# ensure_service NAME CHECK START: start only if CHECK fails, then wait up to 30 s.
ensure_service() {
    local name=$1 check=$2 start=$3
    if "$check"; then
        echo "$name: up"
        return 0
    fi
    echo "$name: not answering, starting it"
    "$start" || true
    local i
    for ((i = 0; i < 60; i++)); do
        if "$check"; then
            echo "$name: up"
            return 0
        fi
        sleep 0.5
    done
    return 1
}

section "environment"
ensure_venv
python --version

section "services"
services_ok=1
ensure_service postgres pg_up start_pg || { warn "Postgres is not answering on 127.0.0.1:5432"; services_ok=0; }
ensure_service redis redis_up start_redis || { warn "Redis is not answering on 127.0.0.1:6379"; services_ok=0; }
ensure_chromium
ensure_service rabbitmq rabbit_up start_rabbit || warn "RabbitMQ is not answering on 127.0.0.1:5672; tests that need it will skip"
if ((!services_ok)); then
    if in_ci; then
        echo "Postgres and Redis are required in CI" >&2
        exit 1
    fi
    warn "integration tests will be skipped (start the servers, e.g. docker compose up -d)"
fi

failed=()

section "ruff"
ruff check continuum_celery tests examples bench scripts || failed+=(ruff)

section "mypy"
mypy || failed+=(mypy)
mypy scripts || failed+=(mypy-scripts)

section "pytest"
# The slowest tests are listed, so that the suite's time stays watched.
pytest --durations=20 "$@" || failed+=(pytest)

section "summary"
if ((${#failed[@]})); then
    echo "FAILED: ${failed[*]}"
    exit 1
fi
echo "all steps passed"
