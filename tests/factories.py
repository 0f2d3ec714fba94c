"""factory_boy factories shared by the whole suite."""

from contextlib import contextmanager

import factory
from django.contrib.auth.hashers import make_password

from mof.choices import CIStatus, RoleCluster
from mof.models import (
    CIClass,
    CIRelationship,
    ConfigurationItem,
    RoleAssignment,
    Service,
    Team,
    User,
)

PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.LazyFunction(lambda: make_password(PASSWORD))

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        for role in extracted or ():
            RoleAssignment.objects.get_or_create(user=self, role=role)
        self.forget_cached_memberships()


class ManagerFactory(UserFactory):
    is_manager = True


class AdminFactory(UserFactory):
    is_staff = True
    is_superuser = True


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Team {n}")
    role_cluster = RoleCluster.INFRASTRUCTURE

    @factory.post_generation
    def members(self, create, extracted, **kwargs):
        if extracted:
            self.members.set(extracted)
            for user in extracted:
                user.forget_cached_memberships()


class ServiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Service

    name = factory.Sequence(lambda n: f"Service {n}")
    criticality = "high"


def ci_class(slug="server"):
    return CIClass.objects.get(slug=slug)


class CIFactory(factory.django.DjangoModelFactory):
    """A CI; pass status=... to place it in a lifecycle state (bypassing transitions, for set-up only)."""

    class Meta:
        model = ConfigurationItem
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"ci-{n:05d}")
    ci_class = factory.LazyFunction(ci_class)
    environment = "production"

    @classmethod
    def _create(cls, model_class, *args, status=CIStatus.PLANNED, **kwargs):
        obj = super()._create(model_class, *args, **kwargs)
        if status != CIStatus.PLANNED:
            model_class.objects.filter(pk=obj.pk).update(status=status)
            obj = model_class.objects.get(pk=obj.pk)
        return obj

    @factory.post_generation
    def services(self, create, extracted, **kwargs):
        if extracted:
            self.services.set(extracted)


class RelationshipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CIRelationship

    source = factory.SubFactory(CIFactory)
    target = factory.SubFactory(CIFactory)
    type = "depends_on"


@contextmanager
def rewriting_event_log():
    """Tests back-date a ticket's SLA events ("opened ten hours ago"). On PostgreSQL the event
    log refuses UPDATE to everyone (a trigger); the test runner is a superuser and switches
    triggers off for the block, as the benchmarks do. The portal's runtime role cannot."""
    from django.db import connection

    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = DEFAULT")
