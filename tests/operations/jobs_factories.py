"""Set-up helpers of the job-schedule tests."""

import datetime as dt

import factory

from mof.choices import RoleCluster
from operations.jobs import reached_services
from operations.models_jobs import Job, JobRun
from tests.factories import CIFactory, TeamFactory, UserFactory

UTC = dt.timezone.utc


class JobFactory(factory.django.DjangoModelFactory):
    """A job saved directly (set-up only: the services write through operations.jobs)."""

    class Meta:
        model = Job
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"job-{n:04d}")
    kind = "batch"
    schedule = "30 2 * * *"
    time_zone = "UTC"
    expected_duration_minutes = 60
    owner_group = factory.SubFactory(TeamFactory, role_cluster=RoleCluster.OPERATIONS)

    @factory.post_generation
    def targets(self, create, extracted, **kwargs):
        cis = list(extracted) if extracted else [CIFactory()]
        self.target_cis.set(cis)
        Job.objects.filter(pk=self.pk).update(service_ids=reached_services(c.pk for c in cis))
        self.service_ids = reached_services(c.pk for c in cis)


def backup_job(**kwargs):
    kwargs.setdefault("kind", "backup")
    kwargs.setdefault("backup_max_age_hours", 24)
    return JobFactory(**kwargs)


def run(job, *, start, status="success", minutes=30, cis=None):
    """A run recorded straight in the table (set-up only)."""
    finished = start + dt.timedelta(minutes=minutes) if status not in ("running", "missed") else None
    r = JobRun.objects.create(
        job=job,
        start=start,
        end=finished or start + job.expected_duration,
        started_at=start,
        finished_at=finished,
        status=status,
    )
    r.cis.set(cis if cis is not None else list(job.target_cis.all()))
    return r


def operator(username="ops"):
    return UserFactory(username=username, roles=[RoleCluster.OPERATIONS])
