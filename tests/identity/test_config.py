"""Directory sign-in and single sign-on are configured from the environment (mof.identity.config)."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from mof.csp import DEFAULT_POLICY
from mof.identity.config import DISABLED_FILTER, group_map, ldap_settings, oidc_settings


def test_ldap_is_off_without_a_server_and_refuses_disabled_accounts_by_default():
    assert ldap_settings({}) == {"MOF_LDAP_ENABLED": False}
    values = ldap_settings({"LDAP_SERVER_URI": "ldaps://dc01.corp.example", "LDAP_USER_BASE": "OU=People,DC=corp"})
    assert values["MOF_LDAP_ENABLED"] and not values["AUTH_LDAP_START_TLS"]
    assert values["AUTH_LDAP_USER_SEARCH"].filterstr == (
        f"(&(|(sAMAccountName=%(user)s)(userPrincipalName=%(user)s))(!{DISABLED_FILTER}))"
    )
    assert type(values["AUTH_LDAP_GROUP_TYPE"]).__name__ == "NestedActiveDirectoryGroupType"


def test_ldap_options_start_tls_group_type_and_no_disabled_mark():
    values = ldap_settings(
        {
            "LDAP_SERVER_URI": "ldap://ldap",
            "LDAP_START_TLS": "1",
            "LDAP_GROUP_TYPE": "group_of_names",
            "LDAP_DISABLED_FILTER": "none",
            "LDAP_USER_FILTER": "(uid=%(user)s)",
        }
    )
    assert values["AUTH_LDAP_START_TLS"] and values["MOF_LDAP_DISABLED_FILTER"] == ""
    assert values["AUTH_LDAP_USER_SEARCH"].filterstr == "(uid=%(user)s)"
    assert type(values["AUTH_LDAP_GROUP_TYPE"]).__name__ == "NestedGroupOfNamesType"
    with pytest.raises(ImproperlyConfigured, match="LDAP_GROUP_TYPE"):
        ldap_settings({"LDAP_SERVER_URI": "ldap://ldap", "LDAP_GROUP_TYPE": "posix"})


def test_oidc_needs_a_discovery_document_or_the_endpoints():
    assert oidc_settings({}) == {"MOF_OIDC_ENABLED": False}
    with pytest.raises(ImproperlyConfigured, match="OIDC_OP_DISCOVERY"):
        oidc_settings({"OIDC_RP_CLIENT_ID": "portal"})
    values = oidc_settings(
        {"OIDC_RP_CLIENT_ID": "portal", "OIDC_OP_DISCOVERY": "https://login.example.com/tenant/v2.0"},
        csp=DEFAULT_POLICY,
    )
    assert values["MOF_OIDC_DISCOVERY"] == "https://login.example.com/tenant/v2.0/.well-known/openid-configuration"
    assert values["OIDC_RP_SIGN_ALGO"] == "RS256" and values["OIDC_USE_PKCE"]
    # The sign-out form may continue at the provider, and nowhere else.
    assert "form-action 'self' https://login.example.com;" in values["MOF_CONTENT_SECURITY_POLICY"]


def test_the_group_map_setting_must_be_a_json_object_of_objects():
    assert group_map("") == {}
    assert group_map('{"Portal Support": {"roles": ["support"]}}') == {"Portal Support": {"roles": ["support"]}}
    for bad in ("not json", '["Portal Support"]', '{"Portal Support": ["support"]}'):
        with pytest.raises(ImproperlyConfigured, match="MOF_DIRECTORY_GROUP_MAP"):
            group_map(bad)
