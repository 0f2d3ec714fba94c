"""Conflict detection for the forward schedule of change (built out with operations)."""
from operations import selectors as operations_selectors


def freeze_windows_overlapping(start, end):
    """Approved or active freeze windows overlapping [start, end)."""
    if not (start and end):
        return []
    return operations_selectors.freeze_windows_overlapping(start, end)
