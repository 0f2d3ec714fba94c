"""Set-up helpers of the monitoring event tests: the people who post and map events,
CIs behind services, and events posted through the service layer."""

import datetime as dt

from django.utils import timezone

from mof.choices import RoleCluster
from operations import events
from tests.factories import CIFactory, ServiceFactory, UserFactory


def monitoring_account(username="nagios"):
    """A monitoring integration: a service account with the Operations role."""
    return UserFactory(username=username, roles=[RoleCluster.OPERATIONS])


def operations_person(username="ops"):
    return UserFactory(username=username, roles=[RoleCluster.OPERATIONS])


def ci_in_service(name="mbx-01", *, criticality="high", service_name="Exchange mail", environment="production"):
    service = ServiceFactory(name=service_name, criticality=criticality)
    return CIFactory(name=name, services=[service], environment=environment), service


def event(ci="mbx-01", *, severity="major", key="mbx-01/disk", source="nagios", message="Disk C: 95% full", **extra):
    body = {"source": source, "ci": ci, "severity": severity, "key": key, "message": message, **extra}
    return {k: v for k, v in body.items() if v is not None}


def clear(ci="mbx-01", *, key="mbx-01/disk", source="nagios", message="Disk C: 60% full", **extra):
    return {"source": source, "ci": ci, "clear": True, "key": key, "message": message, **extra}


def post(actor, payload):
    return events.ingest(actor=actor, payload=payload)


def ago(**kwargs):
    return (timezone.now() - dt.timedelta(**kwargs)).isoformat()
