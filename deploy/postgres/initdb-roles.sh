#!/bin/sh
# docker-compose.yml mounts this into the postgres image's /docker-entrypoint-initdb.d: it runs
# once, as the superuser, when the data volume is empty. Roles and names come from the
# postgres service's environment.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v owner="$MOF_DB_OWNER" -v owner_password="$MOF_DB_OWNER_PASSWORD" \
    -v runtime="$MOF_DB_RUNTIME_ROLE" -v runtime_password="$MOF_DB_RUNTIME_PASSWORD" \
    -v database="$MOF_DB_NAME" -f /mof-postgres/roles.sql
