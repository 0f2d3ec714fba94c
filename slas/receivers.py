"""Tickets' saves feed the SLA event log, inside the same transaction."""
from django.db.models.signals import post_save
from django.dispatch import receiver


@receiver(post_save, dispatch_uid="slas_incident_event")
def incident_saved(sender, instance, created, **kwargs):
    if sender._meta.label_lower != "incidents.incident" or kwargs.get("raw"):
        return
    from slas.services import record_ticket_event

    record_ticket_event(instance, kind="opened" if created else "change", created=created)


def _watch_agreements():
    """Any write to the SLAs, their versions or their calendars changes which clocks a new
    ticket starts (and on which calendar): every process reads them again after it commits."""
    from slas.models import BusinessCalendar, CalendarHoliday, ServiceLevelAgreement, SLAVersion, WorkingInterval
    from slas.selectors import active_versions

    active_versions.watch(ServiceLevelAgreement, SLAVersion, BusinessCalendar, WorkingInterval, CalendarHoliday)


_watch_agreements()
