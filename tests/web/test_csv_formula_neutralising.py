"""Every CSV the portal writes neutralises cells a spreadsheet would run as a formula:
one function (mof.csv_io.neutralise) for the list exports, the SLA report CSVs, the
availability and capacity-forecast downloads."""

import csv
import datetime as dt
import io

import pytest
from django.utils import timezone

from mof import csv_io
from mof.choices import CIStatus
from slas import capacity, reports
from slas.models import CapacityThreshold, Measurement
from tests.factories import CIFactory, ManagerFactory, ServiceFactory

HOSTILE = [";=1+1", "|calc", " =1+1", "\t=1+1", "  +SUM(A1)", "\n=1", " @x", ";cmd", " -2+3", "=1", "\r=1"]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_gets_a_leading_quote(text):
    assert csv_io.neutralise(text) == "'" + text
    assert csv_io.safe_cell(text) == "'" + text


@pytest.mark.parametrize("text", ["core-rtr-01", "a;b", "x=1", "mail | web", "", " plain", "'quoted"])
def test_harmless_text_is_left_alone(text):
    assert csv_io.neutralise(text) == text


@pytest.mark.parametrize("text", HOSTILE + ["plain", "'quoted"])
def test_a_reimport_takes_off_only_the_quote_an_export_added(text):
    assert csv_io.unneutralise(csv_io.neutralise(text)) == text


def test_safe_writer_neutralises_text_and_keeps_numbers():
    out = io.StringIO()
    csv_io.SafeWriter(out).writerow([";=1+1", -5, 2.5, None, True, "ok"])
    assert next(csv.reader(io.StringIO(out.getvalue()))) == ["';=1+1", "-5", "2.5", "", "True", "ok"]


def test_sla_report_csv_neutralises_names():
    text = reports.to_csv(["sla", "met"], [[" =HYPERLINK(1)", 3], ["|calc", -1]])
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[1] == ["' =HYPERLINK(1)", "3"] and rows[2] == ["'|calc", "-1"]


@pytest.mark.django_db
def test_availability_csv_neutralises_the_service_name(client):
    ServiceFactory(name=";=1+1")
    client.force_login(ManagerFactory(username="avail-csv"))
    text = client.get("/optimizing/availability.csv?start=2026-06-01&end=2026-06-07").content.decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert "';=1+1" in [r[0] for r in rows[1:]]
    assert ";=1+1" not in [r[0] for r in rows[1:]]


@pytest.mark.django_db
def test_capacity_forecast_csv_neutralises_names_metric_and_unit(client):
    ci = CIFactory(name=" =cmd|' /C calc'!A0", status=CIStatus.IN_SERVICE)
    CapacityThreshold.objects.create(
        ci_class=ci.ci_class,
        metric="|used",
        threshold=95,
        unit=";=u",
        label="full",
        window_days=30,
        warn_within_days=30,
    )
    now = timezone.now()
    Measurement.objects.bulk_create(
        [Measurement(ci=ci, metric="|used", value=50 + 2 * d, at=now - dt.timedelta(days=20 - d)) for d in range(21)]
    )
    capacity.raise_warnings()
    client.force_login(ManagerFactory(username="cap-csv"))
    text = client.get("/optimizing/capacity.csv").content.decode()
    row = list(csv.reader(io.StringIO(text)))[1]
    assert row[0] == "' =cmd|' /C calc'!A0" and row[2] == "'|used" and row[6] == "';=u"
