import factory

from incidents.models import Incident
from tests.factories import UserFactory


class IncidentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Incident

    title = factory.Sequence(lambda n: f"Outlook cannot connect {n}")
    caller = factory.SubFactory(UserFactory)
    impact = 2
    urgency = 2
    priority = 3

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        """Filed as the services file one: the SLA event log and clocks start with it."""
        from django.db import transaction

        from slas.services import record_ticket_event

        with transaction.atomic():
            incident = super()._create(model_class, *args, **kwargs)
            record_ticket_event(incident, kind="opened", created=True)
        return incident
