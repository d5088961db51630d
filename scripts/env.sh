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
export RUN_DIR="${RUN_DIR:-$GATEWAY_ROOT/.run}"
export BIN_DIR="${BIN_DIR:-$GATEWAY_ROOT/.build/release}"
export GATEWAY_PORT="${GATEWAY_PORT:-8080}"
export GATEWAY_LISTEN="${GATEWAY_LISTEN:-127.0.0.1:$GATEWAY_PORT}"
export REDIS_HOST="${REDIS_HOST:-127.0.0.1}"
export REDIS_PORT="${REDIS_PORT:-6380}"
export LITELLM_PORT="${LITELLM_PORT:-4000}"
export LITELLM_UPSTREAM="${LITELLM_UPSTREAM:-127.0.0.1:$LITELLM_PORT}"
export SLOW_PROVIDER_PORT="${SLOW_PROVIDER_PORT:-4001}"
export WORKER_SOCKET="${WORKER_SOCKET:-$RUN_DIR/worker.sock}"
export WORKER_THREADS="${WORKER_THREADS:-16}"
export WORKER_KEEPALIVE="${WORKER_KEEPALIVE:-4}"
export DEV_IDENTITY_SOCKET="${DEV_IDENTITY_SOCKET:-$RUN_DIR/identity.sock}"
export NGINX_WORKERS="${NGINX_WORKERS:-auto}"
export MAX_V1_BODY="${MAX_V1_BODY:-32m}"
# --- operability: nginx's internal metrics listener (docs/operations.md)
export METRICS_PORT="${METRICS_PORT:-9145}"
export METRICS_LISTEN="${METRICS_LISTEN:-127.0.0.1:$METRICS_PORT}"
export SUPER_ADMIN_EMAIL="${SUPER_ADMIN_EMAIL:-admin@example.com}"
export GATEWAY_IDENTITY="${GATEWAY_IDENTITY:-dev}"
export UI_ROOT="${UI_ROOT:-$GATEWAY_ROOT/ui}"
export LITELLM_RECORD_FILE="${LITELLM_RECORD_FILE:-$RUN_DIR/litellm-calls.jsonl}"

mkdir -p "$RUN_DIR"
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
