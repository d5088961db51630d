# shellcheck shell=bash
# Sourced by the scripts: settings from the environment, then .env, then dev defaults.
# Dev secrets are generated once per run folder and kept in $RUN_DIR/dev-secrets.env.
GATEWAY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -f "$GATEWAY_ROOT/.env" ]; then
    while IFS='=' read -r key value; do
        [[ "$key" =~ ^[A-Z_][A-Z0-9_]*$ ]] || continue
        [ -n "${!key+x}" ] || export "$key=$value"
    done < <(grep -v '^\s*#' "$GATEWAY_ROOT/.env")
fi
# --- ports: GATEWAY_PORT is the one port a person picks (default 8080; run folder .run, or
# .run-<port> for any other). Every other port of the stack (Redis, LiteLLM, the slow mock
# provider, nginx's metrics listener) is taken from the environment when set, else from
# $RUN_DIR/ports.env while that stack runs, else chosen free on loopback now; the ports in use
# are recorded in $RUN_DIR/ports.env. So two stacks that differ only in GATEWAY_PORT run side by
# side, and `make stop`/`scripts/stack status` find the running stack's ports.
export GATEWAY_PORT="${GATEWAY_PORT:-8080}"
if [ -z "${RUN_DIR:-}" ]; then
    if [ "$GATEWAY_PORT" = 8080 ]; then RUN_DIR="$GATEWAY_ROOT/.run"; else RUN_DIR="$GATEWAY_ROOT/.run-$GATEWAY_PORT"; fi
fi
export RUN_DIR
export BIN_DIR="${BIN_DIR:-$GATEWAY_ROOT/.build/release}"
export GATEWAY_LISTEN="${GATEWAY_LISTEN:-127.0.0.1:$GATEWAY_PORT}"
export REDIS_HOST="${REDIS_HOST:-127.0.0.1}"
mkdir -p "$RUN_DIR"
gateway_stack_running() {
    local pid_file
    for pid_file in "$RUN_DIR"/pids/*.pid; do
        [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null && return 0
    done
    return 1
}
gateway_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
ports_file="$RUN_DIR/ports.env"
for port_name in REDIS_PORT LITELLM_PORT SLOW_PROVIDER_PORT METRICS_PORT; do
    [ -z "${!port_name:-}" ] || { export "${port_name?}"; continue; }
    recorded=""
    if [ -f "$ports_file" ] && gateway_stack_running; then recorded="$(sed -n "s/^$port_name=\([0-9]*\)$/\1/p" "$ports_file")"; fi
    export "$port_name=${recorded:-$(gateway_free_port)}"
done
# shellcheck disable=SC2153  # set by the loop above
printf 'GATEWAY_PORT=%s\nREDIS_PORT=%s\nLITELLM_PORT=%s\nSLOW_PROVIDER_PORT=%s\nMETRICS_PORT=%s\n' \
    "$GATEWAY_PORT" "$REDIS_PORT" "$LITELLM_PORT" "$SLOW_PROVIDER_PORT" "$METRICS_PORT" > "$ports_file.$$"
mv "$ports_file.$$" "$ports_file"
export LITELLM_UPSTREAM="${LITELLM_UPSTREAM:-127.0.0.1:$LITELLM_PORT}"
export WORKER_SOCKET="${WORKER_SOCKET:-$RUN_DIR/worker.sock}"
export WORKER_THREADS="${WORKER_THREADS:-16}"
export WORKER_KEEPALIVE="${WORKER_KEEPALIVE:-4}"
export DEV_IDENTITY_SOCKET="${DEV_IDENTITY_SOCKET:-$RUN_DIR/identity.sock}"
export NGINX_WORKERS="${NGINX_WORKERS:-auto}"
export MAX_V1_BODY="${MAX_V1_BODY:-32m}"
# nginx's internal metrics listener (docs/operations.md)
export METRICS_LISTEN="${METRICS_LISTEN:-127.0.0.1:$METRICS_PORT}"
export SUPER_ADMIN_EMAIL="${SUPER_ADMIN_EMAIL:-admin@example.com}"
export GATEWAY_IDENTITY="${GATEWAY_IDENTITY:-dev}"
export UI_ROOT="${UI_ROOT:-$GATEWAY_ROOT/ui}"
export LITELLM_RECORD_FILE="${LITELLM_RECORD_FILE:-$RUN_DIR/litellm-calls.jsonl}"

secrets_file="$RUN_DIR/dev-secrets.env"
if [ ! -f "$secrets_file" ]; then
    umask 077
    {
        echo "DEV_JWT_SECRET=$(head -c 48 /dev/urandom | base64 | tr -d '/+=\n')"
        echo "DEV_LITELLM_MASTER_KEY=sk-master-$(head -c 24 /dev/urandom | base64 | tr -d '/+=\n')"
        echo "DEV_LITELLM_SHARED_KEY=sk-shared-$(head -c 24 /dev/urandom | base64 | tr -d '/+=\n')"
        echo "DEV_COOKIE_SECRET=$(head -c 24 /dev/urandom | base64 | tr -d '/+=\n')"
    } > "$secrets_file"
fi
# shellcheck disable=SC1090
. "$secrets_file"
export JWT_SECRET="${JWT_SECRET:-$DEV_JWT_SECRET}"
export LITELLM_MASTER_KEY="${LITELLM_MASTER_KEY:-$DEV_LITELLM_MASTER_KEY}"
export LITELLM_SHARED_KEY="${LITELLM_SHARED_KEY:-$DEV_LITELLM_SHARED_KEY}"
export OAUTH2_PROXY_COOKIE_SECRET="${OAUTH2_PROXY_COOKIE_SECRET:-$DEV_COOKIE_SECRET}"
