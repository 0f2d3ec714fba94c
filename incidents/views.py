"""Pages of the Supporting quadrant."""
from django.contrib.auth.decorators import login_required

from mof.views import quadrant_page


@login_required
def landing(request):
    """The Supporting quadrant: its SMFs, what exists for each, and the review it ends in."""
    return quadrant_page(request, "supporting")
