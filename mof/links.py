"""Absolute links for what leaves the portal (mails, webhook bodies): MOF_BASE_URL + path."""

from django.conf import settings


def absolute_url(target) -> str:
    """`target`: a path ("/supporting/incidents/5/") or an object with get_absolute_url().
    Returns "" for an object without a page. Base and path are joined with one slash."""
    path = target.get_absolute_url() if hasattr(target, "get_absolute_url") else target
    if not path:
        return ""
    path = str(path)
    if path.startswith(("http://", "https://")):
        return path
    return f"{settings.MOF_BASE_URL.rstrip('/')}/{path.lstrip('/')}"
