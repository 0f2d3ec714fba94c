"""Prometheus metrics at /metrics (prometheus-client).

Per request (MetricsMiddleware): mof_http_requests_total{method, route, status} and
mof_http_request_duration_seconds{method, route}. The route is the URL pattern the request
resolved to ("api/v1/incidents/<int:pk>/"), never the raw path, so the number of series stays
bounded by the URLconf; a request that resolved to nothing is "<unmatched>".

At scrape time (BusinessCollector, a fixed handful of queries): Celery queue depths (Redis
LLEN per queue; absent if Redis does not answer, with mof_celery_broker_up 0), the SLA sweep's
lag, the webhook outbox and notification mail backlogs, open incidents by priority, SLA clocks
breached and in warning, heartbeat ages and each readiness check.

Several gunicorn processes: set PROMETHEUS_MULTIPROC_DIR (an empty directory, emptied at
each start) in the web server's environment; each process then writes its counters there
and a scrape of any process adds them all up (prometheus_client's multiprocess mode).
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
import re
import time
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Min, Q
from django.utils import timezone
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger("mof.metrics")

METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
UNMATCHED = "<unmatched>"

REQUESTS = Counter(
    "mof_http_requests", "HTTP requests answered, by method, route pattern and status.", ["method", "route", "status"]
)
LATENCY = Histogram(
    "mof_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route pattern.",
    ["method", "route"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


def route_of(request) -> str:
    """The URL pattern a request resolved to, or a fixed label (bounded cardinality)."""
    label = getattr(request, "metrics_route", None)
    if label:
        return label
    match = getattr(request, "resolver_match", None)
    if match is None:
        return UNMATCHED
    return _readable(match.route) if match.route else (match.view_name or UNMATCHED)


@functools.lru_cache(maxsize=1024)
def _readable(route: str) -> str:
    """A regex route (DRF's routers) as a path pattern: "api/v1/incidents/(?P<pk>[^/.]+)/$"
    becomes "api/v1/incidents/<pk>/"."""
    return _GROUP.sub(r"<\1>", route).replace("^", "").replace("$", "").replace("\\", "")


_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")


class MetricsMiddleware:
    """Counts and times every request by its route pattern."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        method = request.method if request.method in METHODS else "other"
        route = route_of(request)
        REQUESTS.labels(method, route, str(response.status_code)).inc()
        LATENCY.labels(method, route).observe(time.perf_counter() - started)
        return response


# --- access -------------------------------------------------------------------------


def enabled() -> bool:
    return bool(settings.MOF_METRICS_TOKEN or settings.MOF_METRICS_ALLOWED_NETWORKS)


def allowed(request) -> bool:
    """The Bearer token (when one is set) or a client address in an allowed network (when
    some are set): either suffices. The address is the connection's (REMOTE_ADDR): a scraper
    reaches the web process directly, not through the public proxy."""
    import hmac

    token = settings.MOF_METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "")
        if given.startswith("Bearer ") and hmac.compare_digest(
            given[len("Bearer ") :].strip().encode(), token.encode()
        ):
            return True
    networks = settings.MOF_METRICS_ALLOWED_NETWORKS
    if networks:
        try:
            address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
        except ValueError:
            return False
        return any(address in network for network in _networks(tuple(networks)))
    return False


_parsed: dict[tuple, list] = {}


def _networks(cidrs: tuple) -> list:
    if cidrs not in _parsed:
        _parsed[cidrs] = [ipaddress.ip_network(c, strict=False) for c in cidrs]
    return _parsed[cidrs]


# --- scrape-time figures ---------------------------------------------------------------


def celery_queues() -> list[str]:
    """The queue names Celery's configuration names (the default queue, declared queues, routes)."""
    from mof.celery import app

    conf = app.conf
    names = [conf.task_default_queue or "celery"]
    for queue in conf.task_queues or ():
        names.append(getattr(queue, "name", queue))
    routes = conf.task_routes or {}
    if isinstance(routes, dict):
        for route in routes.values():
            queue = route.get("queue") if isinstance(route, dict) else None
            names.append(getattr(queue, "name", queue))
    return sorted({n for n in names if isinstance(n, str) and n})


def queue_depths() -> dict[str, int] | None:
    """{queue: messages waiting} from the Redis broker, or None if it does not answer (or the
    broker is not Redis)."""
    from mof import health

    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return None
    try:
        client = health.redis_client(url)
        pipe = client.pipeline(transaction=False)
        queues = celery_queues()
        for queue in queues:
            pipe.llen(queue)
        return dict(zip(queues, pipe.execute()))
    except Exception as exc:
        log.warning("metrics: broker queue depths unavailable: %s: %s", type(exc).__name__, exc)
        return None


def _age(then, now) -> float:
    return max(0.0, (now - then).total_seconds()) if then else float("nan")


class BusinessCollector:
    """Gauges read from the database and the broker when Prometheus scrapes."""

    def collect(self):
        from incidents.choices import OPEN_STATES
        from incidents.models import Incident
        from integrations.models import OutboxEvent, WebhookDelivery
        from mof import health
        from mof.models import Heartbeat, MailStatus, OutgoingMail
        from slas.models import ClockState, SLAClock

        now = timezone.now()

        ready = GaugeMetricFamily(
            "mof_ready_check", "Readiness checks (1 passing, 0 failing), as /readyz answers them.", labels=["check"]
        )
        for name, ok in health.readiness().items():
            ready.add_metric([name], 1 if ok else 0)
        yield ready

        depths = queue_depths()
        yield GaugeMetricFamily(
            "mof_celery_broker_up", "1 if the Redis broker answered this scrape.", value=0 if depths is None else 1
        )
        queue_length = GaugeMetricFamily(
            "mof_celery_queue_length", "Messages waiting in each Celery queue.", labels=["queue"]
        )
        for queue, depth in (depths or {}).items():
            queue_length.add_metric([queue], depth)
        yield queue_length

        try:
            oldest_due = SLAClock.objects.filter(next_event_at__lte=now).aggregate(m=Min("next_event_at"))["m"]
            yield GaugeMetricFamily(
                "mof_sla_sweep_lag_seconds",
                "How long the oldest SLA clock due for the sweep has waited (0: none waits).",
                value=_age(oldest_due, now) if oldest_due else 0,
            )
            clocks = SLAClock.objects.filter(
                state__in=[ClockState.RUNNING, ClockState.BREACHED], stopped_at__isnull=True
            ).aggregate(
                breached=Count("pk", filter=Q(state=ClockState.BREACHED)),
                warning=Count("pk", filter=Q(state=ClockState.RUNNING, notified_threshold__gt=0)),
                due_soon=Count(
                    "pk", filter=Q(state=ClockState.RUNNING, due_at__gt=now, due_at__lte=now + timedelta(hours=1))
                ),
            )
            open_clocks = GaugeMetricFamily(
                "mof_sla_clocks_open",
                "Open SLA clocks: breached, past a warning threshold, or due within the hour.",
                labels=["condition"],
            )
            for condition in ("breached", "warning", "due_soon"):
                open_clocks.add_metric([condition], clocks[condition])
            yield open_clocks

            outbox = OutboxEvent.objects.filter(relayed_at__isnull=True).aggregate(
                n=Count("pk"), oldest=Min("occurred_at")
            )
            yield GaugeMetricFamily(
                "mof_webhook_outbox_pending", "Webhook events not yet relayed to their deliveries.", value=outbox["n"]
            )
            yield GaugeMetricFamily(
                "mof_webhook_outbox_oldest_seconds",
                "Age of the oldest unrelayed webhook event (0: none).",
                value=_age(outbox["oldest"], now) if outbox["oldest"] else 0,
            )
            deliveries = WebhookDelivery.objects.filter(status="pending").aggregate(n=Count("pk"))
            yield GaugeMetricFamily(
                "mof_webhook_deliveries_pending",
                "Webhook deliveries waiting for a (first or further) attempt.",
                value=deliveries["n"],
            )
            mail = OutgoingMail.objects.filter(status=MailStatus.PENDING).aggregate(
                n=Count("pk"), oldest=Min("created_at")
            )
            yield GaugeMetricFamily("mof_mail_outbox_pending", "Notification mail waiting to be sent.", value=mail["n"])
            yield GaugeMetricFamily(
                "mof_mail_outbox_oldest_seconds",
                "Age of the oldest unsent notification mail (0: none).",
                value=_age(mail["oldest"], now) if mail["oldest"] else 0,
            )

            incidents = GaugeMetricFamily(
                "mof_incidents_open", "Open incidents by priority (1 highest).", labels=["priority"]
            )
            counts = dict(
                Incident.objects.filter(status__in=OPEN_STATES)
                .order_by()
                .values_list("priority")
                .annotate(n=Count("pk"))
            )
            for priority in range(1, 6):
                incidents.add_metric([str(priority)], counts.get(priority, 0))
            yield incidents

            worker = Heartbeat.objects.filter(name=health.WORKER).values_list("at", flat=True).first()
            yield GaugeMetricFamily(
                "mof_worker_heartbeat_age_seconds",
                "Seconds since a worker last ran the heartbeat task (NaN: never).",
                value=_age(worker, now),
            )
            yield GaugeMetricFamily(
                "mof_beat_heartbeat_age_seconds",
                "Seconds since beat last queued the heartbeat task (NaN: never).",
                value=_age(health.beat_last_run(), now),
            )
        except Exception as exc:  # the database is down: the readiness gauges above say so
            log.warning("metrics: database figures unavailable: %s: %s", type(exc).__name__, exc)


def exposition() -> bytes:
    """The text Prometheus scrapes: request metrics (every process's in multiprocess mode) and
    the figures computed now."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        requests = generate_latest(registry)
    else:
        requests = generate_latest(REGISTRY)
    business = CollectorRegistry(auto_describe=False)
    business.register(BusinessCollector())
    return requests + generate_latest(business)


CONTENT_TYPE = CONTENT_TYPE_LATEST
