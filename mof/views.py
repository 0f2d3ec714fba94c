from django.views.defaults import page_not_found as django_404
from django.views.defaults import permission_denied as django_403


def permission_denied(request, exception=None):
    return django_403(request, exception)


def page_not_found(request, exception=None):
    return django_404(request, exception)
