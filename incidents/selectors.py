"""Reads of the Supporting quadrant, restricted to what the reader may see."""

from django.db import connection
from django.db.models import Q

from incidents.choices import OPEN_STATES, NoteKind
from incidents.models import Incident, IncidentNote, KnownError, PriorityRule, Problem
from mof import policy
from mof.readmostly import ReadMostly

# The priority matrix: nine cells read on every filing, edited by a manager now and then; kept
# per process, read again after any edit commits (mof.readmostly).
priority_matrix = ReadMostly(
    "incidents.priority_matrix",
    lambda: {
        (rule.impact, rule.urgency): rule.priority
        for rule in PriorityRule.objects.only("impact", "urgency", "priority")
    },
).watch(PriorityRule)


def visible_incidents(user, queryset=None):
    qs = Incident.objects.all() if queryset is None else queryset
    if policy.is_internal(user):
        return qs
    if user is not None and user.is_authenticated and user.is_active:
        return qs.filter(caller=user)  # a caller sees their own incidents, never anyone else's
    return qs.none()


def incident_list(*, user):
    return visible_incidents(user).select_related("caller", "assignee", "assignment_group", "service")


def incident_notes(*, user, incident):
    """Comments for everyone who may see the incident; work notes only for IT staff."""
    notes = IncidentNote.objects.filter(incident=incident).select_related("author")
    if not policy.can(user, "incident.read_work_notes", incident):
        notes = notes.filter(kind=NoteKind.COMMENT)
    return notes


def queue(*, user, name: str, group_ids=None):
    """The service desk queues: mine, unassigned in my groups, on hold, all open."""
    qs = incident_list(user=user).filter(status__in=OPEN_STATES)
    groups = list(group_ids) if group_ids is not None else list(getattr(user, "team_ids", ()))
    if name == "mine":
        return qs.filter(assignee=user)
    if name == "unassigned":
        return qs.filter(assignment_group__in=groups, assignee__isnull=True)
    if name == "on_hold":
        return qs.filter(assignment_group__in=groups, status="on_hold")
    if name == "open":
        return qs.filter(assignment_group__in=groups) if group_ids is not None else qs
    raise ValueError(f"unknown queue {name!r}")


def open_incidents_on(ci_ids):
    """Open incidents on these CIs: a likely common cause when filing against one of them."""
    return (
        Incident.objects.filter(status__in=OPEN_STATES, affected_cis__in=list(ci_ids))
        .distinct()
        .select_related("service")
    )


def known_error_search(*, q: str = "", service=None, ci=None, limit: int = 10):
    qs = KnownError.objects.filter(active=True).select_related("problem")
    if service:
        qs = qs.filter(Q(services=service) | Q(services__isnull=True))
    if ci:
        qs = qs.filter(Q(cis=ci) | Q(services__cis=ci))
    words = [w for w in q.split() if len(w) > 2][:8]
    if words:
        match = Q()
        for word in words:
            match |= (
                Q(title__icontains=word)
                | Q(symptoms__icontains=word)
                | Q(workaround__icontains=word)
                | Q(root_cause__icontains=word)
            )
        qs = qs.filter(match)
    return qs.distinct()[:limit]


def search(*, user, q: str, limit: int = 20) -> dict:
    """Full-text search over incidents, problems and known errors (PostgreSQL full-text search
    there; a plain containment search on SQLite)."""
    q = (q or "").strip()
    if not q:
        return {"incidents": [], "problems": [], "known_errors": []}
    incidents = visible_incidents(user)
    problems = Problem.objects.all() if policy.can(user, "problem.view") else Problem.objects.none()
    known_errors = KnownError.objects.filter(active=True)
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector

        query = SearchQuery(q, search_type="websearch", config="english")

        def ranked(qs, *fields):
            # Match with `vector @@ query` (the incidents' GIN index incident_fts_idx is on
            # exactly this vector), then rank only the matches; newest first among equals.
            vector = SearchVector(*fields, config="english")
            return (
                qs.alias(document=vector)
                .filter(document=query)
                .annotate(rank=SearchRank(vector, query))
                .order_by("-rank", "-pk")
            )

        # Incidents carry their search document in a stored, indexed column (migration 0008).
        from django.db.models.expressions import RawSQL

        tsquery = "websearch_to_tsquery('english'::regconfig, %s)"
        incidents = (
            incidents.extra(where=[f"incidents_incident.search_vector @@ {tsquery}"], params=[q])
            .annotate(rank=RawSQL(f"ts_rank(incidents_incident.search_vector, {tsquery})", [q]))
            .order_by("-rank", "-pk")
        )
        problems = ranked(problems, "title", "description", "root_cause")
        known_errors = ranked(known_errors, "title", "symptoms", "workaround")
    else:
        incidents = incidents.filter(Q(title__icontains=q) | Q(description__icontains=q))
        problems = problems.filter(Q(title__icontains=q) | Q(description__icontains=q) | Q(root_cause__icontains=q))
        known_errors = known_errors.filter(
            Q(title__icontains=q) | Q(symptoms__icontains=q) | Q(workaround__icontains=q)
        )
    return {
        "incidents": list(incidents[:limit]),
        "problems": list(problems[:limit]),
        "known_errors": list(known_errors[:limit]),
    }
