import datetime as dt

import factory
from django.utils import timezone

from changes.choices import TemplateStatus
from changes.models import RequestForChange, StandardChangeTemplate
from tests.factories import UserFactory

PLANS = {
    "implementation_plan": "Apply firmware 15.2 to the core router.",
    "backout_plan": "Reload 15.1 from flash.",
    "test_plan": "Ping, BGP sessions, mail flow.",
}


class ChangeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RequestForChange

    title = factory.Sequence(lambda n: f"Change {n}")
    requester = factory.SubFactory(UserFactory, roles=["release"])
    implementation_plan = PLANS["implementation_plan"]
    backout_plan = PLANS["backout_plan"]
    test_plan = PLANS["test_plan"]


class TemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StandardChangeTemplate

    name = factory.Sequence(lambda n: f"Restart IIS on a CAS server {n}")
    owner = factory.SubFactory(UserFactory, roles=["release"])
    implementation_plan = "iisreset"
    backout_plan = "none needed"
    test_plan = "OWA login"

    @classmethod
    def _create(cls, model_class, *args, status=TemplateStatus.PROPOSED, **kwargs):
        obj = super()._create(model_class, *args, **kwargs)
        if status != TemplateStatus.PROPOSED:
            model_class.objects.filter(pk=obj.pk).update(status=status)
            obj = model_class.objects.get(pk=obj.pk)
        return obj


def window(days=3, hours=2):
    start = (timezone.now() + dt.timedelta(days=days)).replace(microsecond=0)
    return start, start + dt.timedelta(hours=hours)
