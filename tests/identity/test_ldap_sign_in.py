"""Sign-in against a real slapd with an Active Directory-like tree (tests/identity/slapd.py)."""

import ldap
import pytest
from django.contrib.auth import authenticate
from django.test import Client

from mof.choices import RoleCluster
from mof.identity.models import DirectoryGroupMapping, DirectoryProfile
from mof.models import AuditEntry, RoleAssignment, User
from tests.factories import TeamFactory, UserFactory
from tests.identity.slapd import GROUPS, PASSWORDS, user_dn

pytestmark = [pytest.mark.django_db, pytest.mark.integration]


@pytest.fixture
def mappings():
    desk = TeamFactory(name="Service desk", role_cluster=RoleCluster.SUPPORT)
    support = DirectoryGroupMapping.objects.create(group=f"CN=Portal Support,{GROUPS}", roles=[RoleCluster.SUPPORT])
    support.teams.add(desk)
    DirectoryGroupMapping.objects.create(group="Portal Managers", is_manager=True)
    return desk


def test_directory_password_signs_in_with_the_roles_of_nested_groups_and_the_profile(slapd, mappings):
    user = authenticate(username="alice", password=PASSWORDS["alice"])
    assert user is not None and user.username == "alice"
    assert (user.first_name, user.last_name, user.email) == ("Alice", "Archer", "alice@corp.example")
    # Alice is in Service Desk L1, which is in Portal Support: the nested group's mapping applies.
    assert user.roles == {RoleCluster.SUPPORT} and list(mappings.members.all()) == [user]
    assert not user.has_usable_password()  # the directory holds the password, never the portal
    profile = DirectoryProfile.objects.get(user=user)
    assert profile.department == "Service Desk" and profile.phone == "+44 20 7946 0002"
    assert profile.external_id.lower() == user_dn("alice").lower()
    assert profile.manager_dn.lower() == user_dn("bob").lower()


def test_the_user_principal_name_signs_in_to_the_same_account(slapd, mappings):
    first = authenticate(username="alice", password=PASSWORDS["alice"])
    again = authenticate(username="alice@corp.example", password=PASSWORDS["alice"])
    assert again is not None and again.pk == first.pk
    assert User.objects.filter(username__iexact="alice").count() == 1


def test_a_wrong_directory_password_is_refused(slapd, mappings):
    assert authenticate(username="alice", password="not-her-password") is None
    assert not User.objects.filter(username="alice").exists()


def test_the_manager_is_linked_once_known_and_the_manager_flag_comes_from_a_group(slapd, mappings):
    bob = authenticate(username="bob", password=PASSWORDS["bob"])
    assert bob.is_manager
    alice = authenticate(username="alice", password=PASSWORDS["alice"])
    assert DirectoryProfile.objects.get(user=alice).manager == bob


def test_leaving_the_group_removes_the_role_at_the_next_sign_in_with_an_audit_entry(slapd, mappings):
    alice = authenticate(username="alice", password=PASSWORDS["alice"])
    assert alice.roles == {RoleCluster.SUPPORT}
    slapd.modify(f"CN=Service Desk L1,{GROUPS}", [(ldap.MOD_DELETE, "member", [user_dn("alice").encode()])])
    alice = authenticate(username="alice", password=PASSWORDS["alice"])
    assert alice is not None and alice.roles == frozenset()
    assert not RoleAssignment.objects.filter(user=alice).exists() and not mappings.members.exists()
    removed = AuditEntry.objects.get(model_label="mof.roleassignment", action="delete", object_repr__startswith="alice")
    assert removed.via == "directory-ldap"


def test_a_role_given_by_hand_survives_leaving_every_group(slapd, mappings):
    UserFactory(username="alice", roles=[RoleCluster.SECURITY])
    alice = authenticate(username="alice", password=PASSWORDS["alice"])
    assert alice.roles == {RoleCluster.SECURITY, RoleCluster.SUPPORT}
    slapd.modify(f"CN=Service Desk L1,{GROUPS}", [(ldap.MOD_DELETE, "member", [user_dn("alice").encode()])])
    alice = authenticate(username="alice", password=PASSWORDS["alice"])
    assert alice.roles == {RoleCluster.SECURITY}


def test_a_disabled_directory_account_cannot_sign_in(slapd, mappings):
    assert authenticate(username="dave", password=PASSWORDS["dave"]) is None
    client = Client()
    response = client.post("/login/", {"username": "dave", "password": PASSWORDS["dave"]})
    assert response.status_code == 200 and "_auth_user_id" not in client.session
    assert "Please enter a correct username and password" in response.content.decode()
    assert not User.objects.filter(username="dave").exists()


def test_disabling_an_account_in_the_directory_refuses_its_next_sign_in(slapd, mappings):
    assert authenticate(username="alice", password=PASSWORDS["alice"]) is not None
    slapd.modify(user_dn("alice"), [(ldap.MOD_REPLACE, "userAccountControl", [b"514"])])
    assert authenticate(username="alice", password=PASSWORDS["alice"]) is None


def test_a_person_deactivated_in_the_portal_stays_out(slapd, mappings):
    UserFactory(username="alice", is_active=False)
    assert authenticate(username="alice", password=PASSWORDS["alice"]) is None


def test_local_accounts_still_sign_in_with_their_own_password(slapd, mappings):
    from tests.factories import PASSWORD

    local = UserFactory(username="local-admin")
    assert authenticate(username="local-admin", password=PASSWORD) == local


def test_the_login_page_signs_in_a_directory_user(slapd, mappings):
    client = Client()
    response = client.post("/login/", {"username": "alice@corp.example", "password": PASSWORDS["alice"]})
    assert response.status_code == 302
    assert client.session["_auth_user_backend"] == "mof.identity.ldap_backend.DirectoryBackend"
    assert client.get("/").status_code == 200


def test_start_tls_with_the_directorys_ca_signs_in_and_an_untrusted_certificate_does_not(slapd, mappings, tmp_path):
    from io import StringIO

    from django.core.management import call_command
    from django.test import override_settings

    from mof.identity.config import ldap_settings
    from tests.identity.slapd import write_certificates

    with override_settings(**ldap_settings(slapd.env(LDAP_START_TLS="1", LDAP_CA_CERT_FILE=slapd.ca_file))):
        assert authenticate(username="alice", password=PASSWORDS["alice"]) is not None
        out = StringIO()
        call_command("sync_directory", stdout=out)  # the sync's own connection too
        assert "3 people in the directory: 2 imported, 1 updated" in out.getvalue()
    write_certificates(tmp_path)
    stranger = tmp_path / "ca.pem"  # a CA that did not sign the directory's certificate
    with override_settings(**ldap_settings(slapd.env(LDAP_START_TLS="1", LDAP_CA_CERT_FILE=str(stranger)))):
        assert authenticate(username="bob", password=PASSWORDS["bob"]) is None
        assert authenticate(username="carol", password=PASSWORDS["carol"]) is None
