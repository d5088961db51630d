#!/bin/sh
# Entrypoint wrapper of every compose service that needs a secret: exports each file of
# $SECRETS_DIR (compose `secrets`, default /run/secrets) as an environment variable of the same
# name (file JWT_SECRET -> $JWT_SECRET, a trailing newline dropped), then runs the real
# entrypoint. Secrets thus never appear in compose's `environment` and so not in
# `docker inspect`. An empty file leaves its variable unset.
#
# DATABASE_URL_TEMPLATE (optional), e.g. postgresql://litellm:{password}@litellm-db:5432/litellm:
# DATABASE_URL is this template with {password} replaced by $DATABASE_PASSWORD percent-encoded
# byte by byte, so any password (base64 with / + =, quotes, @) gives a valid URL.
set -eu
dir="${SECRETS_DIR:-/run/secrets}"
if [ -d "$dir" ]; then
    for file in "$dir"/*; do
        [ -f "$file" ] || continue
        name=$(basename "$file")
        case "$name" in
            *[!A-Z0-9_]* | [0-9]*) echo "secrets-env: ignoring $file (not a variable name)" >&2; continue ;;
        esac
        value=$(cat "$file")
        [ -n "$value" ] || continue
        export "$name=$value"
    done
fi
if [ -n "${DATABASE_URL_TEMPLATE:-}" ]; then
    encoded=$(printf '%s' "${DATABASE_PASSWORD:-}" | od -An -v -tx1 | tr -d ' \n' | sed 's/../%&/g')
    DATABASE_URL=$(printf '%s' "$DATABASE_URL_TEMPLATE" | sed "s/{password}/$encoded/")
    export DATABASE_URL
fi
exec "$@"
