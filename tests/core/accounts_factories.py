"""Factories of service accounts and API tokens (tests of mof.tokens and mof.lockout)."""

import factory
from django.contrib.auth.hashers import make_password

from mof.choices import RoleCluster
from mof.models import ApiToken
from mof.models_access import SHOWN_LENGTH, new_token_key, token_digest
from tests.factories import UserFactory


class ServiceAccountFactory(UserFactory):
    username = factory.Sequence(lambda n: f"svc-{n}")
    is_service_account = True
    password = factory.LazyFunction(lambda: make_password(None))  # unusable, as the service creates it

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        from mof.models import RoleAssignment

        for role in extracted if extracted is not None else [RoleCluster.PARTNER]:
            RoleAssignment.objects.get_or_create(user=self, role=role)
        self.forget_cached_memberships()


def make_token(user, *, name="test token", **fields) -> tuple[ApiToken, str]:
    """A token and its key, written directly (the services are tested on their own)."""
    key = new_token_key()
    token = ApiToken.objects.create(user=user, name=name, prefix=key[:SHOWN_LENGTH], digest=token_digest(key), **fields)
    return token, key
