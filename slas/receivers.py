"""The SLA engine's own watches. Tickets' writes call the SLA service themselves
(slas.services.record_ticket_event, from each ticket type's services), inside their transaction."""


def _watch_agreements():
    """Any write to the SLAs, their versions or their calendars changes which clocks a new
    ticket starts (and on which calendar): every process reads them again after it commits."""
    from slas.models import BusinessCalendar, CalendarHoliday, ServiceLevelAgreement, SLAVersion, WorkingInterval
    from slas.selectors import active_versions

    active_versions.watch(ServiceLevelAgreement, SLAVersion, BusinessCalendar, WorkingInterval, CalendarHoliday)


_watch_agreements()
