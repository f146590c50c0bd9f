#!/bin/sh
# Candour's two database roles (README, Database roles), created once, when the db volume is
# first initialised: the postgres image runs /docker-entrypoint-initdb.d/* as its superuser.
#   candour_owner owns the candour database and its schema, and runs the migrations.
#   candour_app   is what the portal serves as: rows only, no DDL, audit_events append-only
#                 (granted by migration 00025 when the owner migrates).
# The superuser's password (POSTGRES_PASSWORD) stays in this container: the portal never has it.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
	--set=owner_pw="$CANDOUR_OWNER_DB_PASSWORD" --set=app_pw="$CANDOUR_APP_DB_PASSWORD" <<'SQL'
CREATE ROLE candour_owner LOGIN PASSWORD :'owner_pw';
CREATE ROLE candour_app LOGIN PASSWORD :'app_pw';
CREATE DATABASE candour OWNER candour_owner;
-- Only the two roles connect; no one else gets temporary tables either.
REVOKE ALL ON DATABASE candour FROM PUBLIC;
GRANT CONNECT ON DATABASE candour TO candour_app;
SQL
