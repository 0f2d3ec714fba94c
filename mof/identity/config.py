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
        raise ImproperlyConfigured(
            'MOF_DIRECTORY_GROUP_MAP must be {"<group>": {"roles": [...], "teams": [...], "manager": false, "admin": false}}'
        )
    return parsed


ENDPOINTS = {  # mozilla-django-oidc's setting -> the discovery document's key
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
    "MOF_OIDC_LOGOUT_ENDPOINT": "end_session_endpoint",
}


def _origin(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def oidc_settings(env, *, csp: str | None = None) -> dict:
    """OIDC_* (mozilla-django-oidc) and MOF_OIDC_* settings; {"MOF_OIDC_ENABLED": False}
    without OIDC_RP_CLIENT_ID. Endpoints not given are read from OIDC_OP_DISCOVERY (the
    provider's discovery document or its issuer) when first needed."""
    client_id = (env.get("OIDC_RP_CLIENT_ID") or "").strip()
    if not client_id:
        return {"MOF_OIDC_ENABLED": False}
    from django.core.exceptions import ImproperlyConfigured

    discovery = (env.get("OIDC_OP_DISCOVERY") or "").strip()
    if discovery and "openid-configuration" not in discovery:
        discovery = discovery.rstrip("/") + "/.well-known/openid-configuration"
    values = {
        "MOF_OIDC_ENABLED": True,
        "MOF_OIDC_DISCOVERY": discovery,
        "OIDC_RP_CLIENT_ID": client_id,
        "OIDC_RP_CLIENT_SECRET": env.get("OIDC_RP_CLIENT_SECRET", ""),
        "OIDC_RP_SIGN_ALGO": (env.get("OIDC_RP_SIGN_ALGO") or "RS256").strip(),
        "OIDC_RP_SCOPES": (env.get("OIDC_RP_SCOPES") or "openid email profile").strip(),
        "OIDC_USE_PKCE": _bool(env, "OIDC_USE_PKCE", True),
        "OIDC_STORE_ID_TOKEN": True,  # for the provider's logout (id_token_hint)
        "OIDC_OP_LOGOUT_URL_METHOD": "mof.identity.oidc.provider_logout_url",
        "OIDC_AUTHENTICATION_CALLBACK_URL": "oidc_authentication_callback",
        "LOGIN_REDIRECT_URL_FAILURE": "/login/?sso=failed",
        "OIDC_TIMEOUT": int(env.get("OIDC_TIMEOUT") or 10),
        "MOF_OIDC_USERNAME_CLAIM": (env.get("OIDC_USERNAME_CLAIM") or "preferred_username").strip(),
        "MOF_OIDC_GROUPS_CLAIM": (env.get("OIDC_GROUPS_CLAIM") or "groups").strip(),
        "MOF_OIDC_PROVIDER_NAME": (env.get("OIDC_PROVIDER_NAME") or "single sign-on").strip(),
    }
    for name in ENDPOINTS:
        env_name = name.replace("MOF_OIDC_LOGOUT_ENDPOINT", "OIDC_OP_LOGOUT_ENDPOINT")
        values[name] = (env.get(env_name) or "").strip()
    if not discovery and not all(values[n] for n in ENDPOINTS if n != "MOF_OIDC_LOGOUT_ENDPOINT"):
        raise ImproperlyConfigured(
            "OpenID Connect: set OIDC_OP_DISCOVERY, or the authorization, token, user info and JWKS endpoints."
        )
    if csp and "form-action 'self'" in csp:
        # Signing out sends the browser from the portal's sign-out form on to the provider.
        origin = _origin(values["MOF_OIDC_LOGOUT_ENDPOINT"] or discovery or values["OIDC_OP_AUTHORIZATION_ENDPOINT"])
        if origin:
            values["MOF_CONTENT_SECURITY_POLICY"] = csp.replace("form-action 'self'", f"form-action 'self' {origin}")
    return values
