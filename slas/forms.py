"""Forms of the service level management pages. They only parse and check what a person
typed; the services (slas.services) validate again and write. State is never a field."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from functools import lru_cache
from zoneinfo import available_timezones

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from mof.models import Service, Team
from slas.models import AgreementKind, BusinessCalendar, ServiceLevelAgreement

WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MIDNIGHT = dt.time(0)


@lru_cache(maxsize=1)
def time_zone_choices() -> list[tuple[str, str]]:
    zones = sorted(
        z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/", "posix/", "right/"))
    )
    return [("UTC", "UTC")] + [(z, z.replace("_", " ")) for z in zones]


@lru_cache(maxsize=1)
def country_choices() -> list[tuple[str, str]]:
    import holidays

    names = {}
    try:
        from holidays.registry import COUNTRIES

        for module, (cls, code, *_rest) in COUNTRIES.items():
            names[code] = module.replace("_", " ").title()
    except (ImportError, ValueError):  # an older holidays package: codes only
        pass
    try:
        supported = holidays.list_supported_countries(include_aliases=False)
    except TypeError:
        supported = holidays.list_supported_countries()
    choices = []
    for code in sorted(supported, key=lambda c: names.get(c, c)):
        regions = supported[code]
        label = f"{names.get(code, code)} ({code})"
        if regions:
            label += f" — regions: {', '.join(regions[:12])}{'…' if len(regions) > 12 else ''}"
        choices.append((code, label))
    return [("", "— no public holidays —")] + choices


# --- parsing helpers ------------------------------------------------------------------

_SPAN = re.compile(r"^\s*(\d{1,2})(?::(\d{2}))?\s*[-–]\s*(\d{1,2})(?::(\d{2}))?\s*$")


def _time(hours: str, minutes: str | None) -> dt.time:
    h, m = int(hours), int(minutes or 0)
    if h == 24 and m == 0:
        return MIDNIGHT
    if not (0 <= h < 24 and 0 <= m < 60):
        raise ValueError
    return dt.time(h, m)


def parse_spans(text: str) -> list[tuple[dt.time, dt.time]]:
    """'09:00-12:30, 13:30-17:30' -> [(09:00, 12:30), (13:30, 17:30)]; 24:00 or 00:00 as an
    end means midnight. Raises ValidationError with every problem of the day."""
    spans, errors = [], []
    for part in [p for p in re.split(r"[,;\n]", text or "") if p.strip()]:
        match = _SPAN.match(part)
        try:
            if not match:
                raise ValueError
            start, end = _time(match[1], match[2]), _time(match[3], match[4])
        except ValueError:
            errors.append(f"“{part.strip()}” is not a span like 09:00-17:30.")
            continue
        if end != MIDNIGHT and end <= start:
            errors.append(f"{start:%H:%M}-{end:%H:%M}: the end must be after the start (use 24:00 for midnight).")
            continue
        spans.append((start, end))
    spans.sort()
    for (s1, e1), (s2, e2) in zip(spans, spans[1:]):
        if e1 == MIDNIGHT or s2 < e1:
            errors.append(f"{s1:%H:%M}-{_end_label(e1)} and {s2:%H:%M}-{_end_label(e2)} overlap.")
    if errors:
        raise ValidationError(errors)
    return spans


def _end_label(end: dt.time) -> str:
    return "24:00" if end == MIDNIGHT else f"{end:%H:%M}"


def format_spans(spans) -> str:
    return ", ".join(f"{s:%H:%M}-{_end_label(e)}" for s, e in spans)


def parse_holidays(text: str) -> list[tuple[dt.date, str]]:
    """One per line: '2026-12-24 Company day'."""
    rows, errors, seen = [], [], set()
    for number, line in enumerate((text or "").splitlines(), 1):
        if not line.strip():
            continue
        day, _, name = line.strip().partition(" ")
        try:
            date = dt.date.fromisoformat(day)
        except ValueError:
            errors.append(f"Line {number}: “{line.strip()}” does not start with a date like 2026-12-24.")
            continue
        if date in seen:
            errors.append(f"Line {number}: {date} is listed twice.")
            continue
        seen.add(date)
        rows.append((date, name.strip() or "Company holiday"))
    if errors:
        raise ValidationError(errors)
    return rows


_DURATION = re.compile(r"(\d+)\s*([dhms])", re.IGNORECASE)
UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> int | None:
    """'4h', '30m', '1h 30m', '2:30' (hours:minutes) or '90' (minutes) -> seconds; '' -> None."""
    text = (text or "").strip().lower()
    if not text:
        return None
    if re.fullmatch(r"\d+:\d{2}", text):
        hours, minutes = text.split(":")
        return int(hours) * 3600 + int(minutes) * 60
    if re.fullmatch(r"\d+", text):
        return int(text) * 60
    stripped = _DURATION.sub("", text).strip()
    if stripped or not _DURATION.search(text):
        raise ValidationError("Write a duration like 4h, 30m, 1h 30m or 2:30.")
    return sum(int(n) * UNITS[u] for n, u in _DURATION.findall(text))


def format_duration(seconds: int | None) -> str:
    if seconds is None:
        return ""
    seconds = int(seconds)
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = (
        [f"{days}d"] * bool(days)
        + [f"{hours}h"] * bool(hours)
        + [f"{minutes}m"] * bool(minutes)
        + [f"{secs}s"] * bool(secs)
    )
    return sign + (" ".join(parts) or "0m")


class DurationField(forms.CharField):
    """A business-time target typed the way people say it; must be above zero."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", "Business time, e.g. 30m, 4h, 1h 30m or 2:30. Empty: no target for this metric.")
        super().__init__(**kwargs)

    def prepare_value(self, value):
        return format_duration(value) if isinstance(value, int) else value

    def to_python(self, value):
        seconds = parse_duration(super().to_python(value))
        if seconds is not None and seconds <= 0:
            raise ValidationError("A target must be above zero.")
        return seconds


# --- calendars ---------------------------------------------------------------------------


class CalendarForm(forms.Form):
    name = forms.CharField(max_length=120)
    time_zone = forms.ChoiceField(
        choices=time_zone_choices,
        initial="UTC",
        error_messages={
            "invalid_choice": "Unknown time zone “%(value)s”: choose one from the list (e.g. Europe/London)."
        },
        help_text="Working hours are read in this zone; daylight-saving changes follow it.",
    )
    country = forms.ChoiceField(
        choices=country_choices,
        required=False,
        error_messages={"invalid_choice": "No public holidays are known for “%(value)s”."},
        help_text="Public holidays of this country are not working days.",
    )
    subdivision = forms.CharField(
        max_length=10,
        required=False,
        label="Region",
        help_text="Optional region for regional holidays, e.g. ENG, SCT, NY, BY.",
    )
    holidays = forms.CharField(
        required=False,
        label="Own dates",
        widget=forms.Textarea(attrs={"rows": 4, "class": "mono", "placeholder": "2026-12-24 Company day"}),
        help_text="One per line: a date and a name, e.g. 2026-12-24 Company day.",
    )

    def __init__(self, *args, calendar: BusinessCalendar | None = None, **kwargs):
        if calendar is not None and kwargs.get("data") is None and (not args or args[0] is None):
            spans: dict[int, list] = {}
            for interval in calendar.intervals.all():
                spans.setdefault(interval.weekday, []).append((interval.start, interval.end))
            kwargs["initial"] = {
                "name": calendar.name,
                "time_zone": calendar.time_zone,
                "country": calendar.country,
                "subdivision": calendar.subdivision,
                "holidays": "\n".join(f"{h.date.isoformat()} {h.name}" for h in calendar.own_holidays.all()),
                **{f"day_{d}": format_spans(spans.get(d, [])) for d in range(7)},
            }
        super().__init__(*args, **kwargs)
        for day, label in enumerate(WEEKDAYS):
            self.fields[f"day_{day}"] = forms.CharField(
                required=False,
                label=label,
                widget=forms.TextInput(
                    attrs={"placeholder": "09:00-12:30, 13:30-17:30" if day < 5 else "not a working day"}
                ),
            )
        self.fields[
            "day_0"
        ].help_text = "Working hours, several spans allowed: 09:00-12:30, 13:30-17:30. 00:00-24:00 is the whole day. Empty: not a working day."
        order = ["name", "time_zone"] + [f"day_{d}" for d in range(7)] + ["country", "subdivision", "holidays"]
        self.order_fields(order)

    def day_fields(self):
        return [self[f"day_{d}"] for d in range(7)]

    def other_fields(self):
        return [self[name] for name in ("country", "subdivision", "holidays")]

    def clean(self):
        data = super().clean()
        for day in range(7):
            name = f"day_{day}"
            if name in self.errors:
                continue
            try:
                data[name] = parse_spans(data.get(name, ""))
            except ValidationError as exc:
                self.add_error(name, exc)
        if "holidays" not in self.errors:
            try:
                data["holidays"] = parse_holidays(data.get("holidays", ""))
            except ValidationError as exc:
                self.add_error("holidays", exc)
        if data.get("subdivision") and not data.get("country"):
            self.add_error("subdivision", "A region needs a country.")
        return data

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "time_zone": data["time_zone"],
            "country": data.get("country", ""),
            "subdivision": (data.get("subdivision") or "").upper(),
            "intervals": [(day, s, e) for day in range(7) for s, e in data[f"day_{day}"]],
            "holidays": data["holidays"],
        }


# --- SLAs and versions ------------------------------------------------------------------


def _hold_reasons():
    from incidents.choices import HoldReason

    return HoldReason.choices


class VersionForm(forms.Form):
    """What an SLA promises: one version."""

    service = forms.ModelChoiceField(queryset=Service.objects.none(), required=False, empty_label="— every service —")
    priorities = forms.TypedMultipleChoiceField(
        choices=[(p, f"P{p}") for p in range(1, 6)],
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="The priorities it applies to; none ticked: all.",
    )
    assignment_group = forms.ModelChoiceField(
        queryset=Team.objects.none(),
        required=False,
        empty_label="— any group —",
        help_text="OLAs: the internal group that owes it.",
    )
    response_seconds = DurationField(label="Time to respond")
    resolution_seconds = DurationField(label="Time to resolve")
    calendar = forms.ModelChoiceField(
        queryset=BusinessCalendar.objects.none(), help_text="Targets count business time of this calendar."
    )
    pause_on = forms.MultipleChoiceField(
        choices=_hold_reasons,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Pause while on hold for",
        help_text="The clock stops counting while the ticket is on hold for these reasons.",
    )
    warning_thresholds = forms.CharField(
        required=False,
        initial="50, 75",
        help_text="Percentages of the target at which people are warned, e.g. 50, 75 (the breach is 100).",
    )
    carry_pauses = forms.BooleanField(required=False, initial=True, label="Carry accrued pauses on a retroactive start")
    target_percentage = forms.DecimalField(
        max_digits=5,
        decimal_places=2,
        initial=Decimal(95),
        min_value=Decimal("0.01"),
        max_value=Decimal(100),
        label="Compliance target %",
        help_text="The share of tickets that must meet the targets.",
    )

    VERSION_FIELDS = (
        "service",
        "priorities",
        "assignment_group",
        "response_seconds",
        "resolution_seconds",
        "calendar",
        "pause_on",
        "warning_thresholds",
        "carry_pauses",
        "target_percentage",
    )

    def __init__(self, *args, version=None, **kwargs):
        if version is not None and kwargs.get("data") is None and (not args or args[0] is None):
            kwargs["initial"] = {
                **{name: getattr(version, name) for name in self.VERSION_FIELDS},
                "warning_thresholds": ", ".join(str(t) for t in version.warning_thresholds or []),
                **kwargs.get("initial", {}),
            }
        super().__init__(*args, **kwargs)
        self.fields["service"].queryset = Service.objects.order_by("name")
        self.fields["assignment_group"].queryset = Team.objects.order_by("name")
        self.fields["calendar"].queryset = BusinessCalendar.objects.order_by("name")

    def clean_warning_thresholds(self):
        text = self.cleaned_data.get("warning_thresholds", "")
        values = []
        for part in [p for p in re.split(r"[,;\s]+", text or "") if p]:
            try:
                values.append(int(part.rstrip("%")))
            except ValueError:
                raise ValidationError(f"“{part}” is not a whole percentage.") from None
        bad = [v for v in values if not 0 < v < 100]
        if bad:
            raise ValidationError(
                f"Warning thresholds are between 1 and 99 % (100 % is the breach itself): {', '.join(map(str, bad))} is not."
            )
        return sorted(set(values))

    def clean(self):
        data = super().clean()
        if not self.errors and not data.get("response_seconds") and not data.get("resolution_seconds"):
            self.add_error("resolution_seconds", "Set a time to respond or a time to resolve (above zero).")
        return data

    def version_fields(self) -> dict:
        data = self.cleaned_data
        fields = {name: data.get(name) for name in self.VERSION_FIELDS}
        fields["priorities"] = [int(p) for p in fields["priorities"] or []]
        fields["pause_on"] = list(fields["pause_on"] or [])
        return fields


class SLAForm(VersionForm):
    name = forms.CharField(max_length=150)
    kind = forms.ChoiceField(choices=AgreementKind.choices, initial=AgreementKind.SLA)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.order_fields(["name", "kind", "description"])

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if ServiceLevelAgreement.objects.filter(name__iexact=name).exists():
            raise ValidationError("An SLA or OLA of this name exists already.")
        return name


class NewVersionForm(VersionForm):
    retarget_running = forms.BooleanField(
        required=False,
        label="Re-target running clocks",
        help_text="Move clocks still running to the new targets, measured from their original start, in the background (the SLA page shows the progress). Completed clocks are never rewritten.",
    )


class PeriodForm(forms.Form):
    """A period of days (start included, end included); default: the last 30 days."""

    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    DEFAULT_DAYS = 30

    def clean(self):
        data = super().clean()
        for name in ("start", "end"):
            if data.get(name) and not 1900 <= data[name].year < 2900:  # the day after 9999-12-31 is no date
                self.add_error(name, "Out of range: a date between 1900 and 2899.")
        if self.errors:
            return data
        today = timezone.localdate()
        end = data.get("end") or today
        start = data.get("start") or end - dt.timedelta(days=self.DEFAULT_DAYS - 1)
        if not self.errors and start > end:
            self.add_error("end", "The end must not be before the start.")
        if not self.errors and (end - start).days > 3660:
            self.add_error("start", "A period is at most ten years.")
        data["start"], data["end"] = start, end
        return data

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """The period as aware datetimes [start, end + 1 day) in the current time zone."""
        tz = timezone.get_current_timezone()
        start, end = self.cleaned_data["start"], self.cleaned_data["end"]
        return dt.datetime.combine(start, dt.time(0), tzinfo=tz), dt.datetime.combine(
            end + dt.timedelta(days=1), dt.time(0), tzinfo=tz
        )


class ReportForm(PeriodForm):
    sla = forms.ModelChoiceField(
        queryset=ServiceLevelAgreement.objects.none(), required=False, empty_label="— every SLA and OLA —", label="SLA"
    )
    service = forms.ModelChoiceField(queryset=Service.objects.none(), required=False, empty_label="— every service —")
    by = forms.ChoiceField(
        choices=[("week", "Week"), ("month", "Month")], required=False, initial="week", label="Trend per"
    )

    DEFAULT_DAYS = 91

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["sla"].queryset = ServiceLevelAgreement.objects.order_by("name")
        self.fields["service"].queryset = Service.objects.order_by("name")
