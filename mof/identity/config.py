"""Settings of directory sign-in, built from the environment (mof.settings calls these; the
tests call them with the address of their own slapd)."""
from __future__ import annotations

import json

DEFAULT_USER_FILTER = "(|(sAMAccountName=%(user)s)(userPrincipalName=%(user)s))"
# Active Directory's "account disabled" bit (ACCOUNTDISABLE, 2) of userAccountControl, tested
# with the bitwise-AND matching rule (OpenLDAP implements the same rule).
DISABLED_FILTER = "(userAccountControl:1.2.840.113556.1.4.803:=2)"
GROUP_TYPES = {
    # objectClass=group, member: Active Directory (and the tests' AD-like slapd tree)
    "active_directory": ("NestedActiveDirectoryGroupType", "(objectClass=group)"),
    # objectClass=groupOfNames, member: plain OpenLDAP trees
    "group_of_names": ("NestedGroupOfNamesType", "(objectClass=groupOfNames)"),
}


def _bool(env, name, default=False) -> bool:
    value = env.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def ldap_settings(env) -> dict:
    """AUTH_LDAP_* and MOF_LDAP_* settings; {"MOF_LDAP_ENABLED": False} without LDAP_SERVER_URI."""
    uri = (env.get("LDAP_SERVER_URI") or "").strip()
    if not uri:
        return {"MOF_LDAP_ENABLED": False}
    import ldap
    from django_auth_ldap import config as ldap_config

    user_filter = (env.get("LDAP_USER_FILTER") or DEFAULT_USER_FILTER).strip()
    # Disabled accounts: entries matching this filter are refused at sign-in and deactivated
    # by the sync. "none" for a directory without such a mark.
    disabled_filter = (env.get("LDAP_DISABLED_FILTER") or DISABLED_FILTER).strip()
    if disabled_filter.lower() == "none":
        disabled_filter = ""
    if disabled_filter:
        user_filter = f"(&{user_filter}(!{disabled_filter}))"
    group_type_name = (env.get("LDAP_GROUP_TYPE") or "active_directory").strip()
    if group_type_name not in GROUP_TYPES:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"LDAP_GROUP_TYPE must be one of {', '.join(GROUP_TYPES)}")
    type_class, default_group_filter = GROUP_TYPES[group_type_name]
    group_base = (env.get("LDAP_GROUP_BASE") or env.get("LDAP_USER_BASE") or "").strip()
    options = {ldap.OPT_REFERRALS: 0, ldap.OPT_NETWORK_TIMEOUT: int(env.get("LDAP_TIMEOUT") or 10)}
    if env.get("LDAP_CA_CERT_FILE"):
        options[ldap.OPT_X_TLS_CACERTFILE] = env["LDAP_CA_CERT_FILE"]
        options[ldap.OPT_X_TLS_NEWCTX] = 0
    return {
        "MOF_LDAP_ENABLED": True,
        "AUTH_LDAP_SERVER_URI": uri,
        "AUTH_LDAP_START_TLS": _bool(env, "LDAP_START_TLS"),
        "AUTH_LDAP_BIND_DN": env.get("LDAP_BIND_DN", ""),
        "AUTH_LDAP_BIND_PASSWORD": env.get("LDAP_BIND_PASSWORD", ""),
        "AUTH_LDAP_CONNECTION_OPTIONS": options,
        "AUTH_LDAP_USER_SEARCH": ldap_config.LDAPSearch(env.get("LDAP_USER_BASE", ""), ldap.SCOPE_SUBTREE, user_filter),
        "AUTH_LDAP_GROUP_SEARCH": ldap_config.LDAPSearch(
            group_base, ldap.SCOPE_SUBTREE, (env.get("LDAP_GROUP_FILTER") or default_group_filter).strip()
        ),
        "AUTH_LDAP_GROUP_TYPE": getattr(ldap_config, type_class)(),
        "AUTH_LDAP_USER_ATTR_MAP": {"first_name": "givenName", "last_name": "sn", "email": "mail"},
        "AUTH_LDAP_ALWAYS_UPDATE_USER": True,
        "AUTH_LDAP_CACHE_TIMEOUT": 0,  # a group change counts at the very next sign-in
        # The portal's username: this attribute of the entry, lower-cased, whichever name
        # (sAMAccountName or userPrincipalName) the person typed.
        "MOF_LDAP_USERNAME_ATTR": (env.get("LDAP_USERNAME_ATTR") or "sAMAccountName").strip(),
        # Every person the sync looks at (disabled ones included: it deactivates them).
        "MOF_LDAP_DISABLED_FILTER": disabled_filter,
        "MOF_LDAP_SYNC_FILTER": (env.get("LDAP_SYNC_FILTER") or "(&(objectCategory=person)(objectClass=user))").strip(),
    }


def group_map(value: str | None) -> dict:
    """MOF_DIRECTORY_GROUP_MAP: a JSON object {group: {"roles": [...], "teams": [...], "manager": bool, "admin": bool}}."""
    if not value or not value.strip():
        return {}
    from django.core.exceptions import ImproperlyConfigured

    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"MOF_DIRECTORY_GROUP_MAP is not JSON: {exc}") from None
    if not isinstance(parsed, dict) or not all(isinstance(v, dict) for v in parsed.values()):
        raise ImproperlyConfigured('MOF_DIRECTORY_GROUP_MAP must be {"<group>": {"roles": [...], "teams": [...], "manager": false, "admin": false}}')
    return parsed
