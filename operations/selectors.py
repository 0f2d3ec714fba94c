"""Reads of the Operating quadrant that other apps may use."""


def freeze_windows_overlapping(start, end):
    from operations.models import FreezeWindow

    return list(FreezeWindow.objects.in_force().filter(start__lt=end, end__gt=start))
