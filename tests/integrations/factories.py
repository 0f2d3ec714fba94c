import factory

from integrations.models import WebhookSubscription
from integrations.services import new_secret
from tests.factories import ManagerFactory


class SubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WebhookSubscription

    name = factory.Sequence(lambda n: f"Chat-ops bridge {n}")
    url = "http://127.0.0.1:9/hook"
    event_types = factory.LazyFunction(lambda: ["incident.created", "incident.resolved"])
    secret = factory.LazyFunction(new_secret)
    owner = factory.SubFactory(ManagerFactory, email=factory.Sequence(lambda n: f"owner{n}@example.test"))
