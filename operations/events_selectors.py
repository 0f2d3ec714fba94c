"""Reads of service monitoring: events, alerts and parked events, and the counts per
service the Operations Review's health report shows.

An event belongs to a CI; it touches every IT service the CI supports (MOF: service
interdependencies), so the per-service pages and counts go through the CI's services.
"""

from __future__ import annotations

from django.db.models import Count, Q

from mof import policy
from operations.models_events import MonitoringAlert, MonitoringEvent


def event_counts_by_service(start, end) -> list[dict]:
    """Per IT service, for events received in [start, end): how many events, how many
    alerts were opened, and how many incidents monitoring opened. Services with nothing
    in the period are left out; the busiest come first.

    Public: the Operations Review health report calls it. Three grouped queries,
    whatever the number of services.
    """
    from mof.models import Service

    events = {
        service_id: n
        for service_id, n in MonitoringEvent.objects.filter(
            received_at__gte=start, received_at__lt=end, ci__isnull=False
        )
        .values("ci__services")
        .annotate(n=Count("id"))
        .values_list("ci__services", "n")
        if service_id is not None
    }
    alerts_qs = MonitoringAlert.objects.filter(ci__services__isnull=False)
    alert_rows = (
        alerts_qs.filter(
            Q(created_at__gte=start, created_at__lt=end)
            | Q(incident__created_at__gte=start, incident__created_at__lt=end)
        )
        .values("ci__services")
        .annotate(
            alerts=Count("id", filter=Q(created_at__gte=start, created_at__lt=end), distinct=True),
            incidents=Count(
                "incident", filter=Q(incident__created_at__gte=start, incident__created_at__lt=end), distinct=True
            ),
        )
    )
    alerts = {row["ci__services"]: row for row in alert_rows}
    ids = set(events) | set(alerts)
    names = dict(Service.objects.filter(pk__in=ids).values_list("pk", "name"))
    result = [
        {
            "service_id": pk,
            "service_name": names[pk],
            "events": events.get(pk, 0),
            "alerts": alerts.get(pk, {}).get("alerts", 0),
            "incidents_opened": alerts.get(pk, {}).get("incidents", 0),
        }
        for pk in ids
        if pk in names
    ]
    result.sort(key=lambda row: (-row["events"], -row["alerts"], row["service_name"]))
    return result


# --- lists for pages and the API ---------------------------------------------------


def _visible_ci_filter(user, prefix: str = "ci"):
    """Events and alerts of the CIs the person may see (internal staff: all of them)."""
    if policy.is_internal(user):
        return Q()
    return Q(**{f"{prefix}__owner": user}) if policy.authenticated(user) else Q(pk__in=[])


def event_list(*, user, ci=None, service=None, key: str = "", since=None, severity=None, parked: bool | None = False):
    """Events the person may see, newest first. Nothing at all without `event.view`."""
    if not policy.can(user, "event.view"):
        return MonitoringEvent.objects.none()
    qs = MonitoringEvent.objects.select_related("ci", "alert").filter(_visible_ci_filter(user))
    if parked is not None:
        qs = qs.filter(parked=parked)
    if ci is not None:
        qs = qs.filter(ci=ci)
    if service is not None:
        qs = qs.filter(ci__in=service.cis.values("pk"))
    if key:
        qs = qs.filter(key=key)
    if since is not None:
        qs = qs.filter(received_at__gte=since)
    if severity is not None:
        qs = qs.filter(severity=severity)
    return qs.order_by("-received_at", "-id")


def alert_list(*, user, ci=None, service=None, key: str = "", open_only: bool = False, since=None):
    """Alerts the person may see, the most recently active first."""
    if not policy.can(user, "event.view"):
        return MonitoringAlert.objects.none()
    qs = MonitoringAlert.objects.select_related("ci", "service", "incident").filter(_visible_ci_filter(user))
    if ci is not None:
        qs = qs.filter(ci=ci)
    if service is not None:
        qs = qs.filter(ci__in=service.cis.values("pk"))
    if key:
        qs = qs.filter(key=key)
    if open_only:
        qs = qs.filter(closed_at__isnull=True)
    if since is not None:
        qs = qs.filter(last_seen__gte=since)
    return qs.order_by("-last_seen", "-id")


def event_summary(*, user, ci=None, service=None, since=None) -> dict:
    """Counts shown above the lists: events by severity, open alerts, incidents opened."""
    events = event_list(user=user, ci=ci, service=service, since=since)
    by_severity = dict(events.order_by().values_list("severity").annotate(n=Count("id")).values_list("severity", "n"))
    alerts = alert_list(user=user, ci=ci, service=service, since=since).order_by()
    counts = alerts.aggregate(
        open_alerts=Count("id", filter=Q(closed_at__isnull=True)),
        alerts=Count("id"),
        incidents=Count("incident", distinct=True),
    )
    return {"events": sum(by_severity.values()), "by_severity": by_severity, **counts}


def parked_groups(*, user):
    """Parked events grouped by the CI name monitoring used (one row per name to map),
    the most recent first; none without `event.map`."""
    from django.db.models import Max, Min

    if not policy.can(user, "event.map"):
        return MonitoringEvent.objects.none().values("ci_name")
    return (
        MonitoringEvent.objects.filter(parked=True)
        .values("ci_name")
        .annotate(events=Count("id"), first=Min("received_at"), last=Max("received_at"), worst=Max("severity"))
        .order_by("-last", "ci_name")
    )
