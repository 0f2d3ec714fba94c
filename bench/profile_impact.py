"""Where does impact analysis spend its time? And what would a faster version gain?

    python bench/profile_impact.py [--ci NAME] [--runs 15]

Runs against the benchmark database (same defaults as bench/run.py; generate the data
first). Times each phase of mof.impact.analyse separately, then candidate replacements
that live only here (a session-local pg_temp SQL function and a bench-local analyse), and
checks that every candidate returns exactly what the current code returns. Nothing in
the schema or in mof/ is changed: pg_temp functions vanish with the session.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import configure_environment, ensure_database  # noqa: E402

# Candidate walk: the frontier travels in an array (no scan of the visited table by depth),
# already-visited CIs are filtered out before the DISTINCT ON sort (no ON CONFLICT misses),
# same tie-break (smallest via id) so the answer is identical to mof_ci_reach.
REACH_V2 = """
CREATE OR REPLACE FUNCTION pg_temp.bench_reach_v2(start_ids bigint[], downstream boolean, max_depth integer DEFAULT 100)
RETURNS TABLE(ci_id bigint, via_id bigint, rel_type varchar, depth integer)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
  d integer := 0;
  frontier bigint[];
BEGIN
  CREATE TEMP TABLE IF NOT EXISTS bench_reach_seen (
    ci_id bigint PRIMARY KEY, via_id bigint, rel_type varchar(20), depth integer NOT NULL
  ) ON COMMIT DROP;
  TRUNCATE bench_reach_seen;
  SELECT array_agg(DISTINCT s) INTO frontier FROM unnest(start_ids) AS s;
  INSERT INTO bench_reach_seen (ci_id, via_id, rel_type, depth)
    SELECT s, NULL::bigint, NULL::varchar, 0 FROM unnest(frontier) AS s;
  WHILE d < max_depth AND frontier IS NOT NULL LOOP
    IF downstream THEN
      WITH ins AS (
        INSERT INTO bench_reach_seen (ci_id, via_id, rel_type, depth)
        SELECT DISTINCT ON (r.source_id) r.source_id, r.target_id, r.type, d + 1
        FROM unnest(frontier) AS f(id) JOIN mof_cirelationship r ON r.target_id = f.id
        WHERE NOT EXISTS (SELECT 1 FROM bench_reach_seen s WHERE s.ci_id = r.source_id)
        ORDER BY r.source_id, r.target_id
        RETURNING ci_id)
      SELECT array_agg(ins.ci_id) INTO frontier FROM ins;
    ELSE
      WITH ins AS (
        INSERT INTO bench_reach_seen (ci_id, via_id, rel_type, depth)
        SELECT DISTINCT ON (r.target_id) r.target_id, r.source_id, r.type, d + 1
        FROM unnest(frontier) AS f(id) JOIN mof_cirelationship r ON r.source_id = f.id
        WHERE NOT EXISTS (SELECT 1 FROM bench_reach_seen s WHERE s.ci_id = r.target_id)
        ORDER BY r.target_id, r.source_id
        RETURNING ci_id)
      SELECT array_agg(ins.ci_id) INTO frontier FROM ins;
    END IF;
    d := d + 1;
  END LOOP;
  RETURN QUERY SELECT s.ci_id, s.via_id, s.rel_type::varchar, s.depth FROM bench_reach_seen s;
END
$fn$;
"""

# One round trip for the walk, the CI facts and the services (instead of 4 queries, two of
# them with an IN list of every reached CI that Django compiles placeholder by placeholder).
ONE_QUERY = """
SELECT r.ci_id, r.via_id, r.rel_type, r.depth, ci.name, cls.name, ci.status, ci.environment,
       s.id, s.name, s.criticality
FROM {function}(%s::bigint[], %s, %s) r
JOIN mof_configurationitem ci ON ci.id = r.ci_id
JOIN mof_ciclass cls ON cls.id = ci.ci_class_id
LEFT JOIN mof_configurationitem_services cs ON cs.configurationitem_id = r.ci_id
LEFT JOIN mof_service s ON s.id = cs.service_id
"""


def same_answer(a, b, ambiguous: set[int]) -> bool:
    """Equal, except the relationship type of CIs linked to their via by two edge types (a tie)."""

    def norm(result):
        payload = impact_payload(result)
        for ci in payload["cis"]:
            if ci["id"] in ambiguous:
                ci["relationship"] = None
        return payload

    return norm(a) == norm(b)


def ambiguous_ties(reached: dict) -> set[int]:
    """CIs whose (ci, via) pair is linked by more than one relationship type."""
    from django.db import connection

    pairs = [(pk, via) for pk, (via, _, _) in reached.items() if via is not None]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT %s FROM mof_cirelationship r GROUP BY r.source_id, r.target_id HAVING count(*) > 1"
            % "r.source_id, r.target_id"
        )
        multi = set(cursor.fetchall())
    return {pk for pk, via in pairs if (pk, via) in multi or (via, pk) in multi}


def median_ms(fn, runs: int, warmup: int = 2) -> tuple[float, float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return round(statistics.median(samples), 1), round(samples[max(0, int(0.95 * len(samples) + 0.999) - 1)], 1)


def analyse_candidate(ci_ids, direction="downstream", function="mof_ci_reach"):
    """What mof.impact.analyse returns, computed with one query and shared path prefixes."""
    from django.db import connection

    from mof import impact

    with connection.cursor() as cursor:
        cursor.execute(
            ONE_QUERY.format(function=function), [list(ci_ids), direction == impact.DOWNSTREAM, impact.MAX_DEPTH]
        )
        rows = cursor.fetchall()
    reached, info, links = {}, {}, []
    service_info = {}
    for ci_id, via, rel_type, depth, name, cls, status, env, sid, sname, scrit in rows:
        if ci_id not in reached:
            reached[ci_id] = (via, rel_type, depth)
            info[ci_id] = (name, cls, status, env)
        if sid is not None:
            links.append((ci_id, sid))
            service_info[sid] = (sname, scrit)
    names = {pk: v[0] for pk, v in info.items()}
    origin = [{"id": pk, "name": names[pk]} for pk in ci_ids if pk in names]
    # Paths: each CI's path is its via's path plus one step; steps are shared dicts.
    step = {pk: {"id": pk, "name": name} for pk, name in names.items()}
    paths: dict[int, list] = {}
    order = sorted(reached, key=lambda pk: reached[pk][2])
    for pk in order:
        via = reached[pk][0]
        paths[pk] = [step[pk]] if via is None else paths[via] + [step[pk]]
    cis = [
        impact.ImpactedCI(pk, info[pk][0], info[pk][1], info[pk][2], info[pk][3], depth, rel_type, paths[pk])
        for pk, (via, rel_type, depth) in reached.items()
        if depth != 0
    ]
    cis.sort(key=lambda c: (c.depth, c.name))
    best: dict[int, int] = {}
    for ci_id, service_id in links:
        current = best.get(service_id)
        if current is None or (reached[ci_id][2], names[ci_id]) < (reached[current][2], names[current]):
            best[service_id] = ci_id
    services = []
    for sid, ci_id in best.items():
        sname, scrit = service_info[sid]
        services.append(
            impact.ImpactedService(
                sid, sname, scrit, {"id": ci_id, "name": names[ci_id]}, [s["name"] for s in paths[ci_id]] + [sname]
            )
        )
    services.sort(key=lambda s: (impact.CRITICALITY_RANK.get(s.criticality, 9), s.name))
    return impact.Impact(direction=direction, origin=origin, cis=cis, services=services)


def impact_payload(result) -> dict:
    """What ImpactSerializer produces, built as plain dicts."""
    return {
        "direction": result.direction,
        "origin": [{"id": o["id"], "name": o["name"]} for o in result.origin],
        "cis": [
            {
                "id": c.id,
                "name": c.name,
                "ci_class": c.ci_class,
                "status": c.status,
                "environment": c.environment,
                "depth": c.depth,
                "relationship": c.relationship,
                "path": [{"id": p["id"], "name": p["name"]} for p in c.path],
            }
            for c in result.cis
        ],
        "services": [
            {
                "id": s.id,
                "name": s.name,
                "criticality": s.criticality,
                "via_ci": {"id": s.via_ci["id"], "name": s.via_ci["name"]},
                "path": list(s.path),
            }
            for s in result.services
        ],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description="Profile impact analysis")
    parser.add_argument("--ci", default="lon1-core-rtr-01")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument(
        "--try-index", action="store_true", help="also time with a temporary covering index (created, then dropped)"
    )
    args = parser.parse_args(argv)
    url = configure_environment()
    ensure_database(url)
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    from mof import impact
    from mof.models import ConfigurationItem

    settings.DEBUG = False
    ci = ConfigurationItem.objects.get(name=args.ci)
    ids = [ci.pk]
    runs = args.runs
    out = {}

    def show(label, value):
        out[label] = value
        print(f"{label:<72} median {value[0]:>7.1f} ms  p95 {value[1]:>7.1f} ms", flush=True)

    reference = impact.analyse(ids)
    print(f"{ci.name}: {len(reference.cis):,} dependents, {len(reference.services)} services\n")
    print("Current code, phase by phase")
    show("analyse() total", median_ms(lambda: impact.analyse(ids), runs))
    with connection.cursor() as cursor:

        def sql_only():
            cursor.execute("SELECT count(*) FROM mof_ci_reach(%s::bigint[], true, 100)", [ids])
            cursor.fetchall()

        show("  mof_ci_reach in the database (SELECT count(*))", median_ms(sql_only, runs))
    show(
        f"  reach(): the walk + {len(reference.cis) + 1:,} rows to a dict",
        median_ms(lambda: impact.reach(ids, "downstream"), runs),
    )
    reached = impact.reach(ids, "downstream")
    from mof.models import Service  # noqa: F401

    def fetch():
        return list(
            ConfigurationItem.objects.filter(pk__in=list(reached)).values_list(
                "pk", "name", "ci_class__name", "status", "environment"
            )
        )

    show(f"  CI facts: ORM filter(pk__in=<{len(reached):,} ids>) build + run", median_ms(fetch, runs))
    qs = ConfigurationItem.objects.filter(pk__in=list(reached)).values_list(
        "pk", "name", "ci_class__name", "status", "environment"
    )
    show(
        f"    of which building the SQL ({len(reached):,} placeholders)",
        median_ms(lambda: str(qs.query) and qs.query.sql_with_params(), runs),
    )
    through = ConfigurationItem.services.through
    show(
        f"  CI-service links: ORM filter(configurationitem_id__in=<{len(reached):,} ids>)",
        median_ms(
            lambda: list(
                through.objects.filter(configurationitem_id__in=list(reached)).values_list(
                    "configurationitem_id", "service_id"
                )
            ),
            runs,
        ),
    )

    print("\nCandidates (same answers, checked)")
    with connection.cursor() as cursor:
        cursor.execute(REACH_V2)
        cursor.execute(
            "SELECT ci_id, via_id, rel_type, depth FROM pg_temp.bench_reach_v2(%s::bigint[], true, 100)", [ids]
        )
        v2 = {r[0]: (r[1], r[2], r[3]) for r in cursor.fetchall()}
        ties = ambiguous_ties(reached)
        assert {k: (v[0], v[2]) for k, v in v2.items()} == {k: (v[0], v[2]) for k, v in reached.items()}, (
            "walk v2 differs"
        )
        assert all(v2[k] == reached[k] for k in reached if k not in ties), "walk v2 differs beyond ties"
        print(
            f"  (walk v2 = mof_ci_reach; {sum(v2[k] != reached[k] for k in ties)} of {len(ties)} CIs linked to their via "
            "by two relationship types report the other type: ORDER BY has no type tie-break)"
        )

        def sql_v2():
            cursor.execute("SELECT count(*) FROM pg_temp.bench_reach_v2(%s::bigint[], true, 100)", [ids])
            cursor.fetchall()

        show("  walk v2 (array frontier, filter visited before sort) in the database", median_ms(sql_v2, runs))
    for function, label in (("mof_ci_reach", "current walk"), ("pg_temp.bench_reach_v2", "walk v2")):
        candidate = analyse_candidate(ids, function=function)
        assert same_answer(candidate, reference, ties), f"candidate analyse ({label}) differs from impact.analyse"
        show(
            f"  analyse: one query + shared path prefixes ({label})",
            median_ms(lambda f=function: analyse_candidate(ids, function=f), runs),
        )
    up = ConfigurationItem.objects.filter(name="lon1-app-00100").first()
    if up:
        ref_up = impact.analyse([up.pk], "upstream")
        up_ties = ambiguous_ties(impact.reach([up.pk], "upstream"))
        assert same_answer(analyse_candidate([up.pk], "upstream"), ref_up, up_ties)
        assert same_answer(analyse_candidate([up.pk], "upstream", "pg_temp.bench_reach_v2"), ref_up, up_ties)
        print("  (upstream answers also identical for lon1-app-00100)")

    if args.try_index:
        # A covering index for the downstream walk: (target_id, source_id, type) lets each
        # level read the edges with an index-only scan instead of visiting the heap.
        # Created for the measurement and dropped again: the schema is the migrations'.
        print("\nWith a covering index mof_cirelationship (target_id, source_id, type) [temporary]")
        with connection.cursor() as cursor:
            cursor.execute("CREATE INDEX bench_tmp_rel_target_cover ON mof_cirelationship (target_id, source_id, type)")
            cursor.execute("VACUUM (ANALYZE) mof_cirelationship")
            try:

                def sql_cover():
                    cursor.execute("SELECT count(*) FROM mof_ci_reach(%s::bigint[], true, 100)", [ids])
                    cursor.fetchall()

                show("  mof_ci_reach in the database (SELECT count(*))", median_ms(sql_cover, runs))
                show("  analyse() total (current code)", median_ms(lambda: impact.analyse(ids), runs))
                show(
                    "  analyse: one query + shared path prefixes (current walk)",
                    median_ms(lambda: analyse_candidate(ids), runs),
                )
            finally:
                cursor.execute("DROP INDEX IF EXISTS bench_tmp_rel_target_cover")

    print("\nImpact endpoint: serialising the answer")
    from rest_framework.renderers import JSONRenderer

    from mof.api.serializers import ImpactSerializer

    show(
        f"  ImpactSerializer(result).data (DRF fields, {len(reference.cis):,} nested paths)",
        median_ms(lambda: ImpactSerializer(reference).data, max(5, runs // 3), 1),
    )
    data = ImpactSerializer(reference).data
    assert json.loads(JSONRenderer().render(data)) == json.loads(JSONRenderer().render(impact_payload(reference)))
    show("  the same payload built as plain dicts", median_ms(lambda: impact_payload(reference), runs))
    show("  JSONRenderer().render(payload)", median_ms(lambda: JSONRenderer().render(data), runs))
    body = JSONRenderer().render(data)
    print(
        f"  payload {len(body) / 1e6:.1f} MB, of which paths "
        f"{sum(len(json.dumps(c['path'])) for c in data['cis']) / 1e6:.1f} MB"
    )
    return out


if __name__ == "__main__":
    main()
