import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from changes.models import RequestForChange
from mof.choices import CIStatus, RoleCluster
from mof.policy import Refused
from slas import capacity
from slas.models import CapacityThreshold, CapacityWarning, Measurement
from tests.conftest import api_as
from tests.factories import CIFactory, ManagerFactory, UserFactory

pytestmark = pytest.mark.django_db

UTC = dt.timezone.utc


@pytest.fixture
def boss(db):
    return ManagerFactory(username="cap-boss")


@pytest.fixture
def engineer(db):
    return UserFactory(username="cap-eng", roles=[RoleCluster.OPERATIONS])


@pytest.fixture
def volume(db):
    return CIFactory(name="volume E", status=CIStatus.IN_SERVICE)


@pytest.fixture
def threshold(volume):
    return CapacityThreshold.objects.create(
        ci_class=volume.ci_class,
        metric="used_pct",
        threshold=95,
        unit="%",
        label="full",
        window_days=30,
        warn_within_days=30,
    )


def linear_series(ci, now, *, start_value=50.0, per_day=1.0, days=20, metric="used_pct"):
    rows = [
        Measurement(ci=ci, metric=metric, value=start_value + per_day * d, at=now - dt.timedelta(days=days - d))
        for d in range(days + 1)
    ]
    Measurement.objects.bulk_create(rows)


# --- forecast ------------------------------------------------------------------------


def test_forecast_on_a_synthetic_linear_series_finds_the_crossing_day():
    now = dt.datetime(2026, 6, 1, 12, tzinfo=UTC)
    # 60 % growing 1.5 % a day, sampled every 6 hours for 10 days with small symmetric noise.
    points = []
    for i in range(41):
        at = now - dt.timedelta(hours=6 * (40 - i))
        noise = 0.2 if i % 2 else -0.2
        points.append((at, 60 + 1.5 * (at - (now - dt.timedelta(days=10))).total_seconds() / 86400 + noise))
    f = capacity.forecast(points, 95, "above", now=now)
    # the last fitted value is 75 %: 20 % more at 1.5 % a day is 13.33 days from now.
    expected = now + dt.timedelta(days=20 / 1.5)
    assert abs((f.crossing_at - expected).total_seconds()) < 86400
    assert f.slope_per_day == pytest.approx(1.5, rel=0.01)
    assert not f.already_crossed
    # falling towards a floor
    down = [(at, 100 - v) for at, v in points]
    g = capacity.forecast(down, 5, "below", now=now)
    assert abs((g.crossing_at - expected).total_seconds()) < 86400
    # flat or receding: no crossing; already over: now
    assert capacity.forecast(down, 95, "above", now=now).crossing_at is None
    assert capacity.forecast([(now, 1.0)], 95, "above", now=now).crossing_at is None
    over = capacity.forecast([(now - dt.timedelta(days=1), 90.0), (now, 96.0)], 95, "above", now=now)
    assert over.already_crossed and over.crossing_at == now


# --- warnings -----------------------------------------------------------------------------


def test_warnings_raised_once_per_ci_and_metric_and_refreshed(volume, threshold):
    now = timezone.now()
    linear_series(volume, now, start_value=50, per_day=2, days=20)  # 90 % now, 2 %/day: full in ~2.5 days
    quiet = CIFactory(name="volume F", status=CIStatus.IN_SERVICE)
    linear_series(quiet, now, start_value=10, per_day=0.1, days=20)  # 12 %: full in ~830 days, beyond the horizon
    assert capacity.raise_warnings(now=now) == {"opened": 1, "refreshed": 0}
    assert capacity.raise_warnings(now=now) == {"opened": 0, "refreshed": 1}
    (w,) = CapacityWarning.objects.all()
    assert (w.ci, w.metric, w.status) == (volume, "used_pct", "open")
    assert abs((w.forecast_at - (now + dt.timedelta(days=2.5))).total_seconds()) < 86400
    assert w.current_value == 90 and w.summary.startswith("full in 2 days")
    with pytest.raises(IntegrityError), transaction.atomic():
        CapacityWarning.objects.create(
            ci=volume, metric="used_pct", threshold_value=95, current_value=1, forecast_at=now
        )
    # dismissed: stays quiet for a while, then may warn again
    capacity.warning_dismiss(actor=ManagerFactory(username="m2"), warning=w, note="new disks on order")
    assert capacity.raise_warnings(now=now) == {"opened": 0, "refreshed": 0}
    assert capacity.raise_warnings(now=now + dt.timedelta(days=8))["opened"] == 1


def test_the_periodic_task_is_scheduled_and_runs(volume, threshold):
    from django_celery_beat.models import PeriodicTask

    from slas.tasks import capacity_forecast

    assert PeriodicTask.objects.get(task="slas.capacity_forecast").enabled
    linear_series(volume, timezone.now(), start_value=80, per_day=1, days=10)
    assert capacity_forecast() == {"opened": 1, "refreshed": 0}


def test_a_manager_turns_a_warning_into_a_draft_rfc(volume, threshold, boss, engineer):
    linear_series(volume, timezone.now(), start_value=50, per_day=2, days=20)
    capacity.raise_warnings()
    w = CapacityWarning.objects.get()
    with pytest.raises(Refused):
        capacity.warning_convert(actor=engineer, warning=w)
    assert api_as(engineer).post(f"/api/v1/capacity/warnings/{w.pk}/convert/", {}, format="json").status_code == 403
    response = api_as(boss).post(f"/api/v1/capacity/warnings/{w.pk}/convert/", {"note": "add a shelf"}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "converted" and body["change"]
    change = RequestForChange.objects.get(pk=body["change"])
    assert change.status == "draft" and change.requester == boss
    assert list(change.affected_cis.all()) == [volume]
    assert "volume E" in change.title and "used_pct" in change.description and "add a shelf" in change.description
    again = api_as(boss).post(f"/api/v1/capacity/warnings/{w.pk}/dismiss/", {}, format="json")
    assert again.status_code == 409
    with pytest.raises(ValidationError):
        capacity.warning_convert(actor=boss, warning=w)
    assert RequestForChange.objects.count() == 1


# --- measurements API --------------------------------------------------------------------


def test_measurements_batch_is_all_or_nothing(volume, engineer):
    client = api_as(engineer)
    now = timezone.now()
    good = {"ci": volume.pk, "metric": "used_pct", "value": 42.5, "time": (now - dt.timedelta(hours=1)).isoformat()}
    cases = [
        ({"ci": 999999, "metric": "used_pct", "value": 1, "time": now.isoformat()}, "ci"),
        ({"ci": "no such volume", "metric": "used_pct", "value": 1}, "ci"),
        (
            {"ci": volume.pk, "metric": "used_pct", "value": 1, "time": (now + dt.timedelta(minutes=10)).isoformat()},
            "time",
        ),
        ({"ci": volume.pk, "metric": "used_pct", "value": "lots", "time": now.isoformat()}, "value"),
        ({"ci": volume.pk, "metric": "used_pct", "value": True}, "value"),
        ({"ci": volume.pk, "metric": "used_pct", "value": None}, "value"),
        ({"ci": volume.pk, "metric": "used_pct", "value": 1, "time": "yesterday"}, "time"),
        ({"ci": volume.pk, "metric": "bad metric!", "value": 1}, "metric"),
    ]
    for bad, field in cases:
        response = client.post("/api/v1/measurements/", [good, good, bad], format="json")
        assert response.status_code == 400, (bad, response.json())
        (row,) = response.json()["rows"]
        assert row["index"] == 2 and field in row, (bad, row)
        single = client.post("/api/v1/measurements/", bad, format="json")
        assert single.status_code == 400 and field in single.json(), (bad, single.json())
    for junk in ([], "text", [1, 2], {"rows": []}):
        assert client.post("/api/v1/measurements/", junk, format="json").status_code == 400
    assert Measurement.objects.count() == 0
    # within the allowed clock skew, by name or id, a string number
    skewed = {
        "ci": "volume E",
        "metric": "used_pct",
        "value": "43",
        "time": (now + dt.timedelta(minutes=4)).isoformat(),
    }
    response = client.post(
        "/api/v1/measurements/", [good, skewed, {"ci": volume.pk, "metric": "iops", "value": 7}], format="json"
    )
    assert response.status_code == 201 and response.json() == {"created": 3}
    one = client.post("/api/v1/measurements/", good, format="json")
    assert one.status_code == 201 and one.json()["value"] == 42.5
    assert Measurement.objects.count() == 4
    listed = client.get(f"/api/v1/measurements/?ci={volume.pk}&metric=used_pct").json()
    assert [m["value"] for m in listed["results"]] == [42.5, 43.0, 42.5]


def test_measurement_permissions(volume):
    partner = UserFactory(username="monitoring-bot", roles=[RoleCluster.PARTNER])
    nobody = UserFactory(username="walk-in")
    row = {"ci": volume.pk, "metric": "used_pct", "value": 1}
    assert api_as(nobody).post("/api/v1/measurements/", row, format="json").status_code == 403
    assert api_as(None).post("/api/v1/measurements/", row, format="json").status_code in (401, 403)
    # a partner account reports only for the CIs it owns; others are unknown to it
    assert api_as(partner).post("/api/v1/measurements/", row, format="json").status_code == 400
    owned = CIFactory(name="partner appliance", owner=partner, status=CIStatus.IN_SERVICE)
    assert api_as(partner).post("/api/v1/measurements/", {**row, "ci": owned.pk}, format="json").status_code == 201
    assert Measurement.objects.filter(ci=owned).count() == 1
    assert [m["ci"] for m in api_as(partner).get("/api/v1/measurements/").json()["results"]] == [owned.pk]


def test_thresholds_api_managers_only(volume, boss, engineer):
    data = {
        "ci_class": volume.ci_class_id,
        "metric": "used_pct",
        "threshold": 90,
        "direction": "above",
        "unit": "%",
        "label": "full",
    }
    assert api_as(engineer).post("/api/v1/capacity/thresholds/", data, format="json").status_code == 403
    created = api_as(boss).post("/api/v1/capacity/thresholds/", data, format="json")
    assert created.status_code == 201, created.json()
    assert (
        api_as(boss).post("/api/v1/capacity/thresholds/", data, format="json").status_code == 400
    )  # one per class and metric
    assert (
        api_as(boss)
        .post("/api/v1/capacity/thresholds/", {**data, "metric": "x", "direction": "sideways"}, format="json")
        .status_code
        == 400
    )
    assert api_as(engineer).get("/api/v1/capacity/thresholds/").json()["results"][0]["threshold"] == 90


# --- pages ---------------------------------------------------------------------------------


def test_capacity_dashboard_and_warning_pages(client, volume, threshold, boss, engineer):
    linear_series(volume, timezone.now(), start_value=50, per_day=2, days=20)
    capacity.raise_warnings()
    w = CapacityWarning.objects.get()
    client.force_login(engineer)
    page = client.get("/optimizing/capacity/")
    html = page.content.decode()
    assert page.status_code == 200 and "<svg" in html and 'class="threshold"' in html and 'class="crossing"' in html
    assert "volume E" in html and "full in 2 days" in html and "Add a threshold" not in html
    assert "volume E,Server" in client.get("/optimizing/capacity.csv").content.decode().replace(
        volume.ci_class.name, "Server"
    )
    listing = client.get("/optimizing/capacity/warnings/").content.decode()
    assert "volume E" in listing and "Draft RFC" not in listing
    assert client.post(f"/optimizing/capacity/warnings/{w.pk}/dismiss/").status_code == 403
    client.force_login(boss)
    assert "Draft RFC" in client.get("/optimizing/capacity/warnings/").content.decode()
    response = client.post(f"/optimizing/capacity/warnings/{w.pk}/convert/", {"note": "order disks"})
    change = RequestForChange.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/{change.pk}/")
    w.refresh_from_db()
    assert w.status == "converted" and w.change == change
    assert (
        client.post(f"/optimizing/capacity/warnings/{w.pk}/dismiss/").status_code == 302
    )  # already decided: a message, nothing changes
    w.refresh_from_db()
    assert w.status == "converted"
    bad = client.post(
        "/optimizing/capacity/",
        {
            "ci_class": volume.ci_class_id,
            "metric": "used_pct",
            "threshold": "x",
            "direction": "above",
            "window_days": 30,
            "warn_within_days": 30,
        },
    )
    assert bad.status_code == 400
    ok = client.post(
        "/optimizing/capacity/",
        {
            "ci_class": volume.ci_class_id,
            "metric": "iops",
            "threshold": "5000",
            "direction": "above",
            "unit": "",
            "label": "saturated",
            "window_days": 7,
            "warn_within_days": 14,
        },
    )
    assert ok.status_code == 302 and CapacityThreshold.objects.filter(metric="iops").exists()


def test_the_database_sums_agree_with_the_readings_in_memory(volume, threshold):
    now = timezone.now().replace(microsecond=0)
    rows = [
        Measurement(
            ci=volume,
            metric="used_pct",
            value=40 + 1.7 * i + (0.9 if i % 3 else -1.3),
            at=now - dt.timedelta(hours=7 * (60 - i), minutes=i),
        )
        for i in range(61)
    ]
    rows.append(Measurement(ci=volume, metric="iops", value=10**6, at=now))  # another metric
    rows.append(
        Measurement(ci=volume, metric="used_pct", value=0, at=now - dt.timedelta(days=45))
    )  # outside the window
    Measurement.objects.bulk_create(rows)
    ((th, ci, aggregated),) = capacity.forecasts(None, now=now)
    in_memory = capacity.forecast_for(volume, "used_pct", now=now)
    assert (th, ci) == (threshold, volume)
    assert aggregated.count == in_memory.count == 61
    assert aggregated.current_value == in_memory.current_value == rows[60].value
    assert aggregated.slope_per_day == pytest.approx(in_memory.slope_per_day, rel=1e-6)
    assert abs((aggregated.crossing_at - in_memory.crossing_at).total_seconds()) < 60
    assert aggregated.value_at(now) == pytest.approx(in_memory.value_at(now), rel=1e-6)
