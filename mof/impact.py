"""Impact analysis through the CMDB: what depends on a CI (downstream, the blast radius
of changing it) or what it depends on (upstream), transitively, cycle-safe, with the
path that explains each answer.

Relationships point from the dependent to what it depends on ('mailbox server depends
on SAN'), so downstream follows edges backwards. On PostgreSQL the whole walk runs in
the database in one call (mof_ci_reach, a breadth-first search that visits each CI
once), joined to the CI facts and services in the same query; elsewhere it is one query
per level of depth, never one per CI.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.db import connection

from mof.choices import Criticality

DOWNSTREAM = "downstream"
UPSTREAM = "upstream"
DIRECTIONS = (DOWNSTREAM, UPSTREAM)
MAX_DEPTH = 100
CRITICALITY_RANK = {value: i for i, value in enumerate(reversed(Criticality.values))}


@dataclass(slots=True)
class ImpactedCI:
    id: int
    name: str
    ci_class: str
    status: str
    environment: str
    depth: int
    relationship: str | None
    path: list[dict] = field(default_factory=list)  # [{id, name}] from the analysed CI to this one
    via: int | None = None  # the CI it was reached through (path[-2]); prefixes of `path` are shared


@dataclass
class ImpactedService:
    id: int
    name: str
    criticality: str
    via_ci: dict
    path: list[str]


@dataclass
class Impact:
    direction: str
    origin: list[dict]
    cis: list[ImpactedCI]
    services: list[ImpactedService]


def reach(ci_ids: list[int], direction: str) -> dict[int, tuple[int | None, str | None, int]]:
    """{ci_id: (via_id, relationship type, depth)} for the start CIs (depth 0) and all reached."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT ci_id, via_id, rel_type, depth FROM mof_ci_reach(%s::bigint[], %s, %s)",
                [list(ci_ids), direction == DOWNSTREAM, MAX_DEPTH],
            )
            return {row[0]: (row[1], row[2], row[3]) for row in cursor.fetchall()}
    return _reach_by_level(ci_ids, direction)


def _reach_by_level(ci_ids, direction):
    from mof.models import CIRelationship

    seen = {pk: (None, None, 0) for pk in ci_ids}
    frontier = list(seen)
    depth = 0
    near, far = ("target_id", "source_id") if direction == DOWNSTREAM else ("source_id", "target_id")
    while frontier and depth < MAX_DEPTH:
        depth += 1
        level: dict[int, tuple[int, str]] = {}  # found -> smallest (via, type) of this level, as mof_ci_reach
        for start in range(0, len(frontier), 500):
            rows = CIRelationship.objects.filter(**{f"{near}__in": frontier[start : start + 500]}).values_list(
                far, near, "type"
            )
            for found, via, rel_type in rows:
                if found not in seen and (found not in level or (via, rel_type) < level[found]):
                    level[found] = (via, rel_type)
        for found, (via, rel_type) in level.items():
            seen[found] = (via, rel_type, depth)
        frontier = list(level)
    return seen


# One round trip on PostgreSQL: the walk joined to each reached CI's facts and (LEFT) to
# the services it supports; a CI appears once per service (or once with NULLs). In the
# order of the answer: depth, then name (COLLATE "C": code points, as Python compares).
_ANALYSE_SQL = """
SELECT r.ci_id, r.via_id, r.rel_type, r.depth, ci.name, cls.name, ci.status, ci.environment,
       s.id, s.name, s.criticality
FROM mof_ci_reach(%s::bigint[], %s, %s) r
JOIN mof_configurationitem ci ON ci.id = r.ci_id
JOIN mof_ciclass cls ON cls.id = ci.ci_class_id
LEFT JOIN mof_configurationitem_services cs ON cs.configurationitem_id = r.ci_id
LEFT JOIN mof_service s ON s.id = cs.service_id
ORDER BY r.depth, ci.name COLLATE "C", r.ci_id
"""


def _rows_postgres(ci_ids, direction):
    with connection.cursor() as cursor:
        cursor.execute(_ANALYSE_SQL, [ci_ids, direction == DOWNSTREAM, MAX_DEPTH])
        return cursor.fetchall()


def _rows_portable(ci_ids, direction):
    """The rows of _ANALYSE_SQL, from the level-by-level walk and three ORM queries."""
    from mof.models import ConfigurationItem, Service

    reached = _reach_by_level(ci_ids, direction)
    ids = list(reached)
    facts = {}
    links = defaultdict(list)
    through = ConfigurationItem.services.through
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for pk, *rest in ConfigurationItem.objects.filter(pk__in=chunk).values_list(
            "pk", "name", "ci_class__name", "status", "environment"
        ):
            facts[pk] = rest
        for ci_id, service_id in through.objects.filter(configurationitem_id__in=chunk).values_list(
            "configurationitem_id", "service_id"
        ):
            links[ci_id].append(service_id)
    service_ids = {sid for sids in links.values() for sid in sids}
    services = {
        pk: (name, criticality)
        for pk, name, criticality in Service.objects.filter(pk__in=service_ids).values_list("pk", "name", "criticality")
    }
    rows = []
    for pk in sorted(facts, key=lambda pk: (reached[pk][2], facts[pk][0], pk)):  # depth, name, id
        head = (pk, *reached[pk], *facts[pk])
        linked = [sid for sid in links.get(pk, ()) if sid in services]
        if not linked:
            rows.append(head + (None, None, None))
        rows.extend(head + (sid, *services[sid]) for sid in linked)
    return rows


def analyse(ci_ids: list[int], direction: str = DOWNSTREAM) -> Impact:
    """What depends on `ci_ids` (downstream) or what they depend on (upstream).

    Every reached CI once, with its shortest depth, the CI it was reached through (`via`)
    and the path from the analysed CI to it; every service those CIs support, through the
    nearest of them, with its criticality and path. On PostgreSQL one query.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}")
    ci_ids = list(dict.fromkeys(ci_ids))
    rows = _rows_postgres(ci_ids, direction) if connection.vendor == "postgresql" else _rows_portable(ci_ids, direction)

    # One pass. The rows come by depth, then name, then id (a CI's rows are adjacent, one
    # per service it supports): each CI's path is its via's path, built one level up, plus
    # one step; the {id, name} steps are shared, not rebuilt per CI. A service is reached
    # through the first (nearest) of its CIs.
    paths: dict[int, list[dict]] = {}
    names: dict[int, str] = {}
    cis = []
    best: dict[int, tuple[int, str, str]] = {}  # service -> (nearest CI, name, criticality)
    previous = None
    for ci_id, via, rel_type, depth, name, ci_class, status, environment, sid, sname, scrit in rows:
        if ci_id != previous:
            previous = ci_id
            names[ci_id] = name
            path = paths[ci_id] = paths.get(via, []) + [{"id": ci_id, "name": name}]
            if depth:
                cis.append(ImpactedCI(ci_id, name, ci_class, status, environment, depth, rel_type, path, via))
        if sid is not None and sid not in best:
            best[sid] = (ci_id, sname, scrit)
    origin = [{"id": pk, "name": names[pk]} for pk in ci_ids if pk in names]

    # A service is reached through the nearest of its CIs. Only downstream: what depends on
    # a CI touches the services those dependents support; upstream lists what it relies on.
    services = []
    for sid, (ci_id, sname, scrit) in best.items():
        path = [step["name"] for step in paths[ci_id]] + [sname]
        services.append(ImpactedService(sid, sname, scrit, {"id": ci_id, "name": names[ci_id]}, path))
    services.sort(key=lambda s: (CRITICALITY_RANK.get(s.criticality, 9), s.name, s.id))
    return Impact(direction=direction, origin=origin, cis=cis, services=services)
