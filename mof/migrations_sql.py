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
