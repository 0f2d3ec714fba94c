"""System checks of the portal's own settings (`manage.py check --deploy`)."""

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured


@checks.register(checks.Tags.security, deploy=True)
def base_url_check(app_configs, **kwargs):
    """With DEBUG off, MOF_BASE_URL must be an absolute http(s) URL: mails and webhook bodies link to it."""
    from mof.config import base_url

    if settings.DEBUG:
        return []
    value = getattr(settings, "MOF_BASE_URL", "")
    if not value:
        return [
            checks.Error(
                "MOF_BASE_URL is not set.",
                hint="Set it to where people reach the portal, e.g. https://portal.example.com.",
                id="mof.E001",
            )
        ]
    try:
        base_url(value, debug=False)
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="mof.E002")]
    return []
