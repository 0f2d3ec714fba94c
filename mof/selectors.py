"""Reads of the shared core, always restricted to what the reader may see."""

from __future__ import annotations

from django.db.models import Count, Q

from mof import policy
from mof.choices import ReviewKind
from mof.models import AuditEntry, CIRelationship, ConfigurationItem, Service
from mof.review_gate import gated_sources


def ci_list(*, user, search: str = ""):
    qs = policy.visible_cis(user).select_related("ci_class", "owner")
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(description__icontains=search))
    return qs


def ci_get(*, user, pk) -> ConfigurationItem:
    """The CI if the user may see it; DoesNotExist otherwise (404, never 403: no probing)."""
    return policy.visible_cis(user).select_related("ci_class", "owner").get(pk=pk)


def ci_relationships(*, ci: ConfigurationItem):
    base = CIRelationship.objects.select_related("source__ci_class", "target__ci_class")
    return {
        "depends_on": base.filter(source=ci).order_by("target__name"),
        "dependents": base.filter(target=ci).order_by("source__name"),
    }


def service_list(*, user, search: str = ""):
    qs = Service.objects.select_related("owner") if policy.can(user, "service.view") else Service.objects.none()
    if search:
        qs = qs.filter(name__icontains=search)
    return qs


def user_list(*, user):
    return policy.visible_users(user).prefetch_related("role_assignments", "teams")


def history(obj):
    """The audit trail of one object, newest first."""
    return AuditEntry.objects.filter(model_label=obj._meta.label_lower, object_id=str(obj.pk))


def review_queue(user) -> dict[str, list[dict]]:
    """What waits at each review milestone (see gated_sources). Review agendas are
    internal business: others see none."""
    queue: dict[str, list[dict]] = {kind: [] for kind in ReviewKind.values}
    if not policy.is_internal(user):
        return queue
    for kind, sources in gated_sources().items():
        for model, field, states in sources:
            labels = dict(field.choices or ())
            rows = (
                model._default_manager.filter(**{f"{field.name}__in": states})
                .order_by()
                .values_list(field.name)
                .annotate(n=Count("pk"))
                .values_list(field.name, "n")
            )
            for state, n in rows:
                queue.setdefault(kind, []).append(
                    {"model": str(model._meta.verbose_name_plural), "state": str(labels.get(state, state)), "count": n}
                )
    return queue
