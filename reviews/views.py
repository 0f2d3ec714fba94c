"""Pages of the four review milestones."""
from django.contrib.auth.decorators import login_required

from mof.views import reviews_page


@login_required
def landing(request):
    """The review milestones, what each decides and gates, and the decisions recorded."""
    return reviews_page(request)
