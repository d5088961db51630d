#!/usr/bin/env bash
# Entrypoint of the OpenResty image: fills in the defaults of container.env (the environment
# wins), renders the configuration templates with scripts/render-nginx (the same renderer as
# the local run), checks it, then runs the command (openresty in the foreground).
set -euo pipefail
home=/opt/llm-gateway
while IFS='=' read -r key value; do
    [[ "$key" =~ ^[A-Z_][A-Z0-9_]*$ ]] || continue
    [ -n "${!key+x}" ] || export "$key=$value"
done < "$home/container.env"
mkdir -p "$NGINX_RUN_DIR"
"$home/scripts/render-nginx" "$NGINX_CONF_DIR"
# The rendered configuration, not the image's default one.
openresty -t -q -c "$NGINX_CONF_DIR/nginx.conf"
if [ "${1:-}" = openresty ]; then
    shift
    set -- openresty -c "$NGINX_CONF_DIR/nginx.conf" "$@"
fi
exec "$@"
