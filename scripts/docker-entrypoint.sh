#!/bin/sh
# Image entrypoint: load the persistent secret key (generated once into the `secrets` volume by
# compose's secret-key service) unless ZEROGRAD_SECRET_KEY is set, then run the command.
set -e
if [ -z "${ZEROGRAD_SECRET_KEY:-}" ] && [ -s /secrets/secret_key ]; then
  ZEROGRAD_SECRET_KEY="$(cat /secrets/secret_key)"
  export ZEROGRAD_SECRET_KEY
fi
exec "$@"
