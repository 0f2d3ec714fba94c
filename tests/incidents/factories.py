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
