-- The portal's two PostgreSQL roles and its database. Run as a superuser; idempotent.
--
--   psql -U postgres -d postgres -v owner=mof_owner -v owner_password=... \
--        -v runtime=mof_app -v runtime_password=... -v database=mof -f deploy/postgres/roles.sql
--
-- owner    owns the database and its schema; `manage.py migrate` connects as it and, with
--          MOF_DB_RUNTIME_ROLE=<runtime>, grants the runtime role after every migration.
-- runtime  what the web server, the worker and beat connect as (DATABASE_URL): owns nothing,
--          is no superuser, may only read and add to the audit trail and the SLA event log.
-- An empty password sets none (trust or peer authentication, as in CI). Existing roles keep
-- their attributes: this never turns a role into, or out of, a superuser.
\set ON_ERROR_STOP on

SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE', :'owner')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'owner') \gexec
SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE', :'runtime')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'runtime') \gexec
SELECT format('ALTER ROLE %I PASSWORD %L', :'owner', :'owner_password') WHERE :'owner_password' <> '' \gexec
SELECT format('ALTER ROLE %I PASSWORD %L', :'runtime', :'runtime_password') WHERE :'runtime_password' <> '' \gexec

SELECT format('CREATE DATABASE %I OWNER %I', :'database', :'owner')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'database') \gexec
SELECT format('ALTER DATABASE %I OWNER TO %I', :'database', :'owner') \gexec

\connect :database
-- Only the owner creates objects. PostgreSQL 15 already gives the public schema to the
-- database's owner and CREATE on it to nobody else; older versions let every role create there.
SELECT format('ALTER SCHEMA public OWNER TO %I', :'owner') WHERE current_setting('server_version_num')::int < 150000 \gexec
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
