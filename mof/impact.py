"""Impact analysis through the CMDB: what depends on a CI (downstream, the blast radius
of changing it) or what it depends on (upstream), transitively, cycle-safe, with the
path that explains each answer.

Relationships point from the dependent to what it depends on ('mailbox server depends
on SAN'), so downstream follows edges backwards. On PostgreSQL the whole walk runs in
the database in one call (mof_ci_reach, a breadth-first search that visits each CI
once); elsewhere it is one query per level of depth, never one per CI.
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


@dataclass
class ImpactedCI:
    id: int
    name: str
    ci_class: str
    status: str
    environment: str
    depth: int
    relationship: str | None
    path: list[dict] = field(default_factory=list)  # [{id, name}] from the analysed CI to this one


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
        nxt = []
        for start in range(0, len(frontier), 500):
            rows = (
                CIRelationship.objects.filter(**{f"{near}__in": frontier[start : start + 500]})
                .order_by(far, near)
                .values_list(far, near, "type")
            )
            for found, via, rel_type in rows:
                if found not in seen:
                    seen[found] = (via, rel_type, depth)
                    nxt.append(found)
        frontier = nxt
    return seen


def _path(ci_id, reached, names):
    chain = []
    current = ci_id
    while current is not None:
        chain.append({"id": current, "name": names[current]})
        current = reached[current][0]
    chain.reverse()
    return chain


def analyse(ci_ids: list[int], direction: str = DOWNSTREAM) -> Impact:
    from mof.models import ConfigurationItem, Service

    reached = reach(ci_ids, direction)
    rows = ConfigurationItem.objects.filter(pk__in=list(reached)).values_list(
        "pk", "name", "ci_class__name", "status", "environment"
    )
    info = {r[0]: r for r in rows}
    names = {pk: r[1] for pk, r in info.items()}
    origin = [{"id": pk, "name": names[pk]} for pk in ci_ids if pk in names]

    cis = []
    for pk, (via, rel_type, depth) in reached.items():
        if depth == 0 or pk not in info:
            continue
        _, name, ci_class, status, environment = info[pk]
        cis.append(ImpactedCI(pk, name, ci_class, status, environment, depth, rel_type, _path(pk, reached, names)))
    cis.sort(key=lambda c: (c.depth, c.name))

    # A service is reached through the nearest of its CIs. Only downstream: what depends on
    # a CI touches the services those dependents support; upstream lists what it relies on.
    through = ConfigurationItem.services.through
    best: dict[int, int] = {}
    for ci_id, service_id in through.objects.filter(configurationitem_id__in=list(info)).values_list(
        "configurationitem_id", "service_id"
    ):
        current = best.get(service_id)
        if current is None or (reached[ci_id][2], names[ci_id]) < (reached[current][2], names[current]):
            best[service_id] = ci_id
    services = []
    for service in Service.objects.filter(pk__in=list(best)).only("pk", "name", "criticality"):
        ci_id = best[service.pk]
        path = [step["name"] for step in _path(ci_id, reached, names)] + [service.name]
        services.append(
            ImpactedService(service.pk, service.name, service.criticality, {"id": ci_id, "name": names[ci_id]}, path)
        )
    services.sort(key=lambda s: (CRITICALITY_RANK.get(s.criticality, 9), s.name))
    return Impact(direction=direction, origin=origin, cis=cis, services=services)


def level_counts(impact: Impact) -> dict[int, int]:
    counts = defaultdict(int)
    for ci in impact.cis:
        counts[ci.depth] += 1
    return dict(counts)
