"""Template tags of the job schedule for other apps' pages (the CI page's backup line)."""

from django import template

from operations import jobs_selectors

register = template.Library()


@register.inclusion_tag("operations/backup_ci.html", takes_context=True)
def backup_status(context, ci):
    """The CI's last good backup against its policy, if a backup job covers it (two queries)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    return {"rows": jobs_selectors.backup_coverage(user=user, ci_ids=[ci.pk]) if user is not None else []}
