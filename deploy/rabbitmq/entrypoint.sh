#!/bin/sh
# RabbitMQ of docker-compose.yml: writes its definitions, the services' users and what each
# may do (deploy/broker_users.py; docs/security.md), with their passwords from the
# environment, then runs the image's own entrypoint ("$@"). RabbitMQ loads them at every
# boot (shop.conf) and, importing definitions, creates no default user.
#
# Passwords go into JSON and a sed expression: letters, digits, - and _ only (what
# `./manage_all.sh up` generates).
set -eu
template="${SHOP_DEFINITIONS_TEMPLATE:-/etc/rabbitmq/shop/definitions.json}"
target="${SHOP_DEFINITIONS:-/etc/rabbitmq/shop-definitions.json}"
for name in ORDERS_BROKER_PASSWORD PAYMENTS_BROKER_PASSWORD FLOWER_BROKER_PASSWORD; do
  eval "value=\${$name:-}"
  case "$value" in
    "" | *[!A-Za-z0-9_-]*)
      echo "rabbitmq: set $name (letters, digits, - and _), see .env.example" >&2
      exit 1 ;;
  esac
done
umask 077
sed -e "s|@ORDERS_BROKER_PASSWORD@|$ORDERS_BROKER_PASSWORD|" \
    -e "s|@PAYMENTS_BROKER_PASSWORD@|$PAYMENTS_BROKER_PASSWORD|" \
    -e "s|@FLOWER_BROKER_PASSWORD@|$FLOWER_BROKER_PASSWORD|" \
    "$template" > "$target"
# Readable by the server alone: the image's entrypoint runs it as the user rabbitmq.
if [ "$(id -u)" = 0 ] && id rabbitmq >/dev/null 2>&1; then chown rabbitmq "$target"; fi
exec "$@"
