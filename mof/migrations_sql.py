"""SQL that only PostgreSQL runs: the impact walk and the append-only audit trail."""

CI_REACH_FUNCTION = """
CREATE OR REPLACE FUNCTION mof_ci_reach(start_ids bigint[], downstream boolean, max_depth integer DEFAULT 100)
RETURNS TABLE(ci_id bigint, via_id bigint, rel_type varchar, depth integer)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
  d integer := 0;
  added integer;
BEGIN
  -- Breadth-first search with a visited set: each CI is reached once, by a shortest path,
  -- however many paths lead to it and whatever cycles the CMDB holds.
  CREATE TEMP TABLE IF NOT EXISTS mof_reach_seen (
    ci_id bigint PRIMARY KEY, via_id bigint, rel_type varchar(20), depth integer NOT NULL
  ) ON COMMIT DROP;
  TRUNCATE mof_reach_seen;
  INSERT INTO mof_reach_seen (ci_id, via_id, rel_type, depth)
    SELECT DISTINCT s, NULL::bigint, NULL::varchar, 0 FROM unnest(start_ids) AS s;
  LOOP
    EXIT WHEN d >= max_depth;
    IF downstream THEN
      INSERT INTO mof_reach_seen (ci_id, via_id, rel_type, depth)
        SELECT DISTINCT ON (r.source_id) r.source_id, r.target_id, r.type, d + 1
        FROM mof_reach_seen f JOIN mof_cirelationship r ON r.target_id = f.ci_id
        WHERE f.depth = d
        ORDER BY r.source_id, r.target_id
      ON CONFLICT (ci_id) DO NOTHING;
    ELSE
      INSERT INTO mof_reach_seen (ci_id, via_id, rel_type, depth)
        SELECT DISTINCT ON (r.target_id) r.target_id, r.source_id, r.type, d + 1
        FROM mof_reach_seen f JOIN mof_cirelationship r ON r.source_id = f.ci_id
        WHERE f.depth = d
        ORDER BY r.target_id, r.source_id
      ON CONFLICT (ci_id) DO NOTHING;
    END IF;
    GET DIAGNOSTICS added = ROW_COUNT;
    EXIT WHEN added = 0;
    d := d + 1;
  END LOOP;
  RETURN QUERY SELECT s.ci_id, s.via_id, s.rel_type::varchar, s.depth FROM mof_reach_seen s;
END
$fn$;
"""

# Migration 0004 replaces the walk above (kept as it was: 0002 installs it, and
# unapplying 0004 puts it back). Same signature and answer, three changes:
# * deterministic: the via edge is the first by (via id, relationship type), so when two
#   CIs are linked by two relationship types the reported type no longer depends on the plan;
# * the visited set is a session temp table kept across calls (ON COMMIT DELETE ROWS)
#   instead of one created and dropped per call, so the plans of the statements below
#   stay cached and no catalog rows are written per call;
# * the frontier travels in an array and already-visited CIs are removed (anti-join on the
#   primary key) before the DISTINCT ON sort, rather than sorted then refused by ON CONFLICT.
# With the covering index (target_id, source_id, type) each level reads its edges with an
# index-only scan. Still breadth-first: each CI once, at its shortest depth, cycle-safe.
CI_REACH_FUNCTION_V2 = """
CREATE OR REPLACE FUNCTION mof_ci_reach(start_ids bigint[], downstream boolean, max_depth integer DEFAULT 100)
RETURNS TABLE(ci_id bigint, via_id bigint, rel_type varchar, depth integer)
LANGUAGE plpgsql SET work_mem = '32MB' AS $fn$
#variable_conflict use_column
DECLARE
  d integer := 0;
  frontier bigint[];
BEGIN
  IF to_regclass('pg_temp.mof_reach_visited') IS NULL THEN
    CREATE TEMP TABLE mof_reach_visited (
      ci_id bigint PRIMARY KEY, via_id bigint, rel_type varchar(20), depth integer NOT NULL
    ) ON COMMIT DELETE ROWS;
  ELSE
    DELETE FROM mof_reach_visited;  -- an earlier call in the same transaction
  END IF;
  SELECT array_agg(DISTINCT s) INTO frontier FROM unnest(start_ids) AS s WHERE s IS NOT NULL;
  INSERT INTO mof_reach_visited (ci_id, via_id, rel_type, depth)
    SELECT s, NULL, NULL, 0 FROM unnest(frontier) AS s;
  WHILE d < max_depth AND frontier IS NOT NULL LOOP
    IF downstream THEN
      WITH added AS (
        INSERT INTO mof_reach_visited (ci_id, via_id, rel_type, depth)
        SELECT DISTINCT ON (r.source_id) r.source_id, r.target_id, r.type, d + 1
        FROM unnest(frontier) AS f(id) JOIN mof_cirelationship r ON r.target_id = f.id
        WHERE NOT EXISTS (SELECT 1 FROM mof_reach_visited v WHERE v.ci_id = r.source_id)
        ORDER BY r.source_id, r.target_id, r.type
        RETURNING ci_id)
      SELECT array_agg(added.ci_id) INTO frontier FROM added;
    ELSE
      WITH added AS (
        INSERT INTO mof_reach_visited (ci_id, via_id, rel_type, depth)
        SELECT DISTINCT ON (r.target_id) r.target_id, r.source_id, r.type, d + 1
        FROM unnest(frontier) AS f(id) JOIN mof_cirelationship r ON r.source_id = f.id
        WHERE NOT EXISTS (SELECT 1 FROM mof_reach_visited v WHERE v.ci_id = r.target_id)
        ORDER BY r.target_id, r.source_id, r.type
        RETURNING ci_id)
      SELECT array_agg(added.ci_id) INTO frontier FROM added;
    END IF;
    d := d + 1;
  END LOOP;
  RETURN QUERY SELECT v.ci_id, v.via_id, v.rel_type::varchar, v.depth FROM mof_reach_visited v;
END
$fn$;
"""

# CI search (the list page's q=, the API's search=) is name__icontains OR
# description__icontains, which PostgreSQL runs as UPPER(col::text) LIKE UPPER('%q%'):
# trigram GIN indexes on exactly those expressions turn two sequential scans into
# bitmap index scans. pg_trgm is a trusted extension (PostgreSQL 13+). ANALYZE gathers
# statistics on the indexed expressions; the larger sample on UPPER(name) keeps the planner
# from taking a selective search ('lon1-db-001': 111 of 100k) for a 1 % one and walking
# the name index in ORDER BY name order, filtering (113 ms instead of 3 ms).
CI_SEARCH_TRGM = """
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX IF NOT EXISTS ci_name_trgm_idx ON mof_configurationitem USING gin (UPPER(name::text) gin_trgm_ops);
CREATE INDEX IF NOT EXISTS ci_description_trgm_idx ON mof_configurationitem USING gin (UPPER(description::text) gin_trgm_ops);
ALTER INDEX ci_name_trgm_idx ALTER COLUMN 1 SET STATISTICS 1000;
ANALYZE mof_configurationitem;
"""

DROP_CI_SEARCH_TRGM = """
DROP INDEX IF EXISTS ci_name_trgm_idx;
DROP INDEX IF EXISTS ci_description_trgm_idx;
"""

DROP_CI_REACH_FUNCTION = "DROP FUNCTION IF EXISTS mof_ci_reach(bigint[], boolean, integer);"

AUDIT_APPEND_ONLY = """
CREATE OR REPLACE FUNCTION mof_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  RAISE EXCEPTION 'the audit trail is append-only: % refused on %', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END
$fn$;
CREATE TRIGGER mof_auditentry_append_only
  BEFORE UPDATE OR DELETE ON mof_auditentry
  FOR EACH ROW EXECUTE FUNCTION mof_audit_append_only();
"""

DROP_AUDIT_APPEND_ONLY = """
DROP TRIGGER IF EXISTS mof_auditentry_append_only ON mof_auditentry;
DROP FUNCTION IF EXISTS mof_audit_append_only();
"""

# TRUNCATE fires no row trigger, so the trail above could still be emptied at once by its
# owner (a `manage.py flush` against production). The portal's runtime role holds no TRUNCATE
# privilege at all (mof.dbroles); this refuses it to the owner too. A superuser may: it can
# switch any trigger off anyway, and it is who empties the test database between tests.
AUDIT_REFUSES_TRUNCATE = """
CREATE OR REPLACE FUNCTION mof_audit_refuse_truncate() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    RETURN NULL;
  END IF;
  RAISE EXCEPTION 'the audit trail is append-only: % refused on %', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END
$fn$;
CREATE TRIGGER mof_auditentry_refuse_truncate
  BEFORE TRUNCATE ON mof_auditentry
  FOR EACH STATEMENT EXECUTE FUNCTION mof_audit_refuse_truncate();
"""

DROP_AUDIT_REFUSES_TRUNCATE = """
DROP TRIGGER IF EXISTS mof_auditentry_refuse_truncate ON mof_auditentry;
DROP FUNCTION IF EXISTS mof_audit_refuse_truncate();
"""
