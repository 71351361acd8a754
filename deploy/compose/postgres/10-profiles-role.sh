#!/bin/sh
# Run once by the postgres image when it creates the cluster (docker-entrypoint-initdb.d): the
# service's own role, which owns its database and is not a superuser, with the password compose.yaml
# passes in APP_DB_PASSWORD. The superuser (POSTGRES_USER) is only for administration.
set -eu
psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER}" --dbname postgres \
  -v app_password="${APP_DB_PASSWORD}" <<'SQL'
CREATE ROLE profiles LOGIN PASSWORD :'app_password';
CREATE DATABASE profiles OWNER profiles;
SQL
