from rest_framework.routers import DefaultRouter

from incidents.api import views
from mof.api import attachments

router = DefaultRouter(trailing_slash=True)
router.register("incidents", views.IncidentViewSet, basename="incident")
router.register("assignment-groups", views.AssignmentGroupViewSet, basename="assignmentgroup")
router.register("priority-matrix", views.PriorityMatrixViewSet, basename="priorityrule")
router.register("problems", views.ProblemViewSet, basename="problem")
router.register("known-errors", views.KnownErrorViewSet, basename="knownerror")
router.register("problem-proposals", views.ProblemProposalViewSet, basename="problemproposal")
router.register("inbound-messages", views.InboundMessageViewSet, basename="inboundmessage")

# Without the router's API root: mof.api.urls routes these first (the most requested
# resources; Django tries patterns in order) and its own root answers /api/v1/.
urlpatterns = [pattern for pattern in router.urls if pattern.name != "api-root"] + [
    *attachments.urls("incidents", "incidents.incident", "incident"),
    *attachments.urls("problems", "incidents.problem", "problem"),
]
