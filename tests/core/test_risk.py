import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from mof import services
from mof.models import RiskThreshold

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "probability,impact,score,level",
    [
        (1, 1, 1, "low"),
        (2, 2, 4, "low"),
        (1, 5, 5, "medium"),
        (3, 3, 9, "medium"),
        (2, 5, 10, "high"),
        (4, 4, 16, "high"),
        (5, 4, 20, "critical"),
        (5, 5, 25, "critical"),
    ],
)
def test_score_and_level_follow_the_default_thresholds(manager, probability, impact, score, level):
    assessment = services.risk_assess(actor=manager, probability=probability, impact=impact)
    assert (assessment.score, assessment.level) == (score, level)


def test_thresholds_are_configurable(manager):
    RiskThreshold.objects.filter(level="critical").update(min_score=25)
    assert services.risk_assess(actor=manager, probability=5, impact=4).level == "high"
    assert services.risk_assess(actor=manager, probability=5, impact=5).level == "critical"


@pytest.mark.parametrize("probability,impact", [(0, 3), (6, 1), (3, "x"), (True, 2)])
def test_values_outside_the_scales_are_refused(manager, probability, impact):
    with pytest.raises(ValidationError):
        services.risk_assess(actor=manager, probability=probability, impact=impact)


def test_only_assessors_may_assess(support_user):
    with pytest.raises(PermissionDenied):
        services.risk_assess(actor=support_user, probability=2, impact=2)
