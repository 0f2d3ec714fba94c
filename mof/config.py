"""Reading configuration from the environment: the only source of settings."""

import os
from urllib.parse import parse_qs, unquote, urlparse

from django.core.exceptions import ImproperlyConfigured

TRUE = {"1", "true", "yes", "on"}


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in TRUE


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def email_settings(url: str) -> dict:
    """Turn EMAIL_URL into Django e-mail settings.

    smtp://user:password@host:587?tls=1, smtps://... (implicit TLS),
    file:///path/to/folder, console://, locmem://
    """
    parsed = urlparse(url)
    scheme = parsed.scheme
    if scheme in ("smtp", "smtps"):
        query = parse_qs(parsed.query)
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": parsed.hostname or "localhost",
            "EMAIL_PORT": parsed.port or (465 if scheme == "smtps" else 25),
            "EMAIL_HOST_USER": unquote(parsed.username or ""),
            "EMAIL_HOST_PASSWORD": unquote(parsed.password or ""),
            "EMAIL_USE_TLS": query.get("tls", ["0"])[0] in TRUE,
            "EMAIL_USE_SSL": scheme == "smtps",
        }
    if scheme == "file":
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": unquote(parsed.path),
        }
    if scheme == "console":
        return {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    if scheme == "locmem":
        return {"EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"}
    raise ImproperlyConfigured(f"EMAIL_URL scheme {scheme!r} is not supported")


DEV_BASE_URL = "http://127.0.0.1:8000"


def base_url(value: str, *, debug: bool) -> str:
    """MOF_BASE_URL, checked: where people reach the portal (links in mails and webhook bodies).
    An absolute http(s) URL with a host and at most a path prefix (https://example.com/mof);
    no query or fragment. Empty only while unset with DEBUG off, which start-up and
    `check --deploy` then refuse (require_base_url, mof.checks). Returned without a trailing slash."""
    value = (value or "").strip()
    if not value:
        return DEV_BASE_URL if debug else ""
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ImproperlyConfigured(
            f"MOF_BASE_URL {value!r}: give an absolute http:// or https:// URL with a host, e.g. https://portal.example.com"
        )
    if parsed.query or parsed.fragment or parsed.params or parsed.username or parsed.password:
        raise ImproperlyConfigured(
            f"MOF_BASE_URL {value!r}: only scheme, host, port and an optional path prefix; no query, fragment or credentials"
        )
    try:
        parsed.port
    except ValueError:
        raise ImproperlyConfigured(f"MOF_BASE_URL {value!r}: the port is not a number") from None
    return value.rstrip("/")


def require_base_url() -> None:
    """Production refuses to start without MOF_BASE_URL: every mail and webhook body links to it
    (called by wsgi, asgi, worker and beat, like require_secret_key)."""
    from django.conf import settings

    if not settings.DEBUG and not getattr(settings, "MOF_BASE_URL", ""):
        raise ImproperlyConfigured(
            "MOF_BASE_URL must be set when DEBUG is off (e.g. https://portal.example.com): links in mails and webhooks use it."
        )


def require_secret_key() -> None:
    """Production refuses to start without a SECRET_KEY (called by wsgi, asgi, worker and beat)."""
    from django.conf import settings

    try:
        key = settings.SECRET_KEY
    except ImproperlyConfigured:  # Django refuses to hand out an empty key
        key = ""
    if not settings.DEBUG and not key:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
