"""The directory sync (manage.py sync_directory, the identity.sync_directory task) against a real slapd."""

from io import StringIO

import ldap
import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from incidents.choices import IncidentStatus
from mof.choices import RoleCluster
from mof.identity import tasks
from mof.identity.models import DirectoryGroupMapping, DirectoryProfile
from mof.models import OutgoingMail, User
from tests.factories import ManagerFactory, TeamFactory, UserFactory
from tests.identity.slapd import GROUPS, user_dn

pytestmark = [pytest.mark.django_db(transaction=False), pytest.mark.integration]


@pytest.fixture
def desk():
    desk = TeamFactory(
        name="Service desk", role_cluster=RoleCluster.SUPPORT, manager=ManagerFactory(username="desk-manager")
    )
    mapping = DirectoryGroupMapping.objects.create(group=f"CN=Portal Support,{GROUPS}", roles=[RoleCluster.SUPPORT])
    mapping.teams.add(desk)
    return desk


def test_sync_imports_people_with_their_groups_before_they_ever_sign_in(slapd, desk):
    out = StringIO()
    call_command("sync_directory", stdout=out)
    assert "3 people in the directory: 3 imported, 0 updated, 0 deactivated" in out.getvalue()
    assert "[##############################] 3/3" in out.getvalue()
    assert set(User.objects.filter(directory_profile__isnull=False).values_list("username", flat=True)) == {
        "alice",
        "bob",
        "carol",
    }
    alice = User.objects.get(username="alice")
    assert alice.roles == {RoleCluster.SUPPORT} and list(desk.members.all()) == [alice]
    assert alice.email == "alice@corp.example" and not alice.has_usable_password()
    # Bob was imported in the same run: the second run links Alice's manager.
    call_command("sync_directory", stdout=StringIO())
    assert DirectoryProfile.objects.get(user=alice).manager.username == "bob"
    assert not User.objects.filter(username="dave").exists()  # disabled: never imported


def test_sync_removes_the_role_of_someone_who_left_the_group(slapd, desk):
    call_command("sync_directory", stdout=StringIO())
    slapd.modify(
        f"CN=Portal Support,{GROUPS}", [(ldap.MOD_DELETE, "member", [f"CN=Service Desk L1,{GROUPS}".encode()])]
    )
    call_command("sync_directory", stdout=StringIO())
    alice = User.objects.get(username="alice")
    assert alice.roles == frozenset() and not desk.members.exists()


def test_sync_deactivates_disabled_and_removed_people_and_flags_their_open_assignments(slapd, desk):
    from tests.incidents.factories import IncidentFactory

    call_command("sync_directory", stdout=StringIO())
    alice, carol = User.objects.get(username="alice"), User.objects.get(username="carol")
    incident = IncidentFactory(assignment_group=desk, assignee=alice, status=IncidentStatus.IN_PROGRESS)
    IncidentFactory(assignment_group=desk, assignee=alice, status=IncidentStatus.CLOSED)
    local = UserFactory(username="local-only")  # never came from the directory: untouched
    slapd.modify(user_dn("alice"), [(ldap.MOD_REPLACE, "userAccountControl", [b"514"])])
    slapd.delete(user_dn("carol"))
    out = StringIO()
    call_command("sync_directory", stdout=out)
    assert "2 deactivated (1 open assignments flagged" in out.getvalue()
    alice.refresh_from_db(), carol.refresh_from_db(), local.refresh_from_db()
    assert not alice.is_active and not carol.is_active and local.is_active
    incident.refresh_from_db()
    assert incident.assignee == alice  # the ticket and its history stay
    mail = OutgoingMail.objects.get(kind="identity.deactivated")
    assert mail.to_email == desk.manager.email
    assert incident.get_absolute_url() in mail.body and "Disabled in the directory" in mail.body
    # Enabled again in the directory: the next sync brings the person back.
    slapd.modify(user_dn("alice"), [(ldap.MOD_REPLACE, "userAccountControl", [b"512"])])
    call_command("sync_directory", stdout=StringIO())
    alice.refresh_from_db()
    assert alice.is_active and DirectoryProfile.objects.get(user=alice).deactivated_at is None


def test_the_periodic_task_runs_the_sync(slapd, desk):
    result = tasks.sync_directory.apply().get()
    assert result["imported"] == 3 and result["errors"] == []


def test_without_a_directory_the_command_says_so_and_the_task_skips():
    with override_settings(MOF_LDAP_ENABLED=False):
        with pytest.raises(CommandError, match="LDAP_SERVER_URI"):
            call_command("sync_directory", stdout=StringIO())
        assert "skipped" in tasks.sync_directory.apply().get()


def test_a_session_of_someone_the_sync_deactivated_ends(slapd, desk):
    from django.test import Client

    from tests.identity.slapd import PASSWORDS

    client = Client()
    assert client.post("/login/", {"username": "alice", "password": PASSWORDS["alice"]}).status_code == 302
    assert client.get("/").status_code == 200
    slapd.modify(user_dn("alice"), [(ldap.MOD_REPLACE, "userAccountControl", [b"514"])])
    call_command("sync_directory", stdout=StringIO())
    assert client.get("/").status_code == 302


def test_people_the_sync_creates_are_in_the_audit_trail_as_the_directorys(slapd, desk):
    from mof.models import AuditEntry

    call_command("sync_directory", stdout=StringIO())
    created = AuditEntry.objects.get(model_label="mof.user", action="create", object_repr="Alice Archer")
    assert created.via == "directory-sync" and created.actor_name == "system"
