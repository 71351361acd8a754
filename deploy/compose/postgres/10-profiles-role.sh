#!/bin/sh
# Run once by the postgres image when it creates the cluster (docker-entrypoint-initdb.d): the
# service's own role, which owns its database and is not a superuser, with the password compose.yaml
# passes in APP_DB_PASSWORD. The superuser (POSTGRES_USER) is only for administration.
# REPLICATION: the change feed creates and reads its logical replication slot (wal2json) through the
# SQL functions (pg_create_logical_replication_slot, pg_logical_slot_peek_changes, ...), which need it;
# it gives no access to other databases' tables. A volume made before this line: run
# `ALTER ROLE profiles REPLICATION` as the superuser (init scripts run only on an empty volume).
set -eu
psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER}" --dbname postgres \
  -v app_password="${APP_DB_PASSWORD}" <<'SQL'
CREATE ROLE profiles LOGIN REPLICATION PASSWORD :'app_password';
CREATE DATABASE profiles OWNER profiles;
SQL
