"""Who may do what with review meetings: added to the one policy table (mof.policy)."""

from mof import policy
from mof.policy import any_of, is_internal, is_manager


def is_chair(user, meeting) -> bool:
    return (
        meeting is not None
        and user is not None
        and user.is_authenticated
        and getattr(meeting, "chair_id", None) == user.pk
    )


def is_attendee(user, meeting) -> bool:
    if meeting is None or user is None or not user.is_authenticated or not user.is_active:
        return False
    return is_chair(user, meeting) or meeting.attendees.filter(pk=user.pk).exists()


RULES = {
    "review.view": is_internal,
    "review.add": is_manager,
    "review.change": any_of(is_chair, is_manager),
    "review.agenda": any_of(is_chair, is_manager),
    "review.publish": any_of(is_chair, is_manager),
    "review.meeting_mode": is_manager,
    "review.vote": is_attendee,
    "review.transition.open": any_of(is_chair, is_manager),
    "review.transition.close": any_of(is_chair, is_manager),
}


def register():
    for action, rule in RULES.items():
        if action not in policy.RULES:
            policy.register(action, rule)
