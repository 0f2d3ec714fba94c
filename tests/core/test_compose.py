"""docker-compose.yml and the Dockerfile describe the production-like stack: one image for
web, worker, beat and the one-shot migration; the migration first, as the schema's owner;
a health check on every long-running service; .env read by every portal service.

The docker client here has no compose plugin (`docker compose config` cannot run, and CI has
no engine to build the image); the file was validated against the compose-spec JSON schema
when written, and these tests hold what the stack relies on. The start commands themselves
run without Docker in tests/integration/test_production_processes.py."""

import re
from pathlib import Path

import pytest
import yaml

from mof.container_health import CHECKS

ROOT = Path(__file__).resolve().parents[2]
PORTAL = ("migrate", "web", "worker", "beat")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def test_the_stack_has_the_portal_processes_postgres_and_redis(services):
    assert set(services) == {*PORTAL, "postgres", "redis"}


def test_the_portal_services_run_one_image_built_from_the_dockerfile_by_its_commands(services):
    images = {services[name]["image"] for name in PORTAL}
    assert len(images) == 1
    for name in PORTAL:
        service = services[name]
        assert service["build"] == "."
        assert service["command"] == [name], "bin/portal <word>: the image's entrypoint"
        # Nothing installed or collected at start, no source mounted over the image's: the one
        # volume is the files' store (attachments, stored backups) every container shares.
        assert service["volumes"] == ["portal-files:/srv/mof-files"]
        assert service["environment"]["MOF_STORAGE_ROOT"] == "/srv/mof-files"
        assert "pip" not in str(service["command"])


def test_the_migration_runs_first_as_the_owner_and_the_rest_wait_for_it(services):
    migrate = services["migrate"]
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert migrate["restart"] == "no"
    assert migrate["environment"]["DATABASE_URL"].startswith("postgres://mof_owner:")
    assert migrate["environment"]["MOF_DB_RUNTIME_ROLE"] == "mof_app"
    for name in ("web", "worker", "beat"):
        service = services[name]
        assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert service["depends_on"]["redis"] == {"condition": "service_healthy"}
        assert service["environment"]["DATABASE_URL"].startswith("postgres://mof_app:")
        assert service["restart"] == "unless-stopped"


def test_every_long_running_service_has_a_health_check(services):
    for name, service in services.items():
        if name == "migrate":
            continue  # one-shot: the others wait for its exit status
        test = service["healthcheck"]["test"]
        assert test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, name
        if name in PORTAL:
            assert test[1:] == ["/app/bin/portal", "healthcheck", name]
            assert name in CHECKS


def test_env_file_is_read_for_real_and_every_variable_is_documented(services):
    documented = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    compose_only = {"MOF_DB_OWNER_PASSWORD", "MOF_DB_RUNTIME_PASSWORD", "POSTGRES_PASSWORD", "MOF_IMAGE"}
    for name in PORTAL:
        service = services[name]
        assert service["env_file"] == [{"path": ".env", "required": False}]
        assert set(service["environment"]) <= documented, set(service["environment"]) - documented
    used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", (ROOT / "docker-compose.yml").read_text()))
    assert used - documented <= compose_only
    assert compose_only <= documented, compose_only - documented


def test_postgres_and_redis_keep_their_data_in_named_volumes(compose, services):
    assert set(compose["volumes"]) == {"postgres-data", "redis-data", "portal-files"}
    assert "postgres-data:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert "redis-data:/data" in services["redis"]["volumes"]


def test_the_dockerfile_is_multi_stage_non_root_and_collects_static_files_at_build():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", dockerfile, re.MULTILINE)) >= 2
    users = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"^RUN .*DEBUG=0 .*manage\.py collectstatic", dockerfile, re.MULTILINE)
    assert 'ENTRYPOINT ["/app/bin/portal"]' in dockerfile
    assert (ROOT / "bin" / "portal").stat().st_mode & 0o111
