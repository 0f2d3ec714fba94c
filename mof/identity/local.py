"""Local passwords: on for everyone (MOF_LOCAL_LOGIN=on, the default, for small shops), or
only for the administrators listed as break-glass accounts (MOF_LOCAL_LOGIN=break-glass, when
everyone signs in through the directory or single sign-on)."""

from django.conf import settings

ON = "on"
BREAK_GLASS = "break-glass"
MODES = (ON, BREAK_GLASS)


def mode() -> str:
    return getattr(settings, "MOF_LOCAL_LOGIN", ON)


def password_allowed(user) -> bool:
    if mode() != BREAK_GLASS:
        return True
    from mof.identity.models import BreakGlassAccount

    return bool(user.is_superuser and user.pk and BreakGlassAccount.objects.filter(user=user).exists())
