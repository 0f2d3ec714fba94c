"""Configuration from the environment: production refuses to start without a secret key,
EMAIL_URL is understood, and Django's deployment checklist passes with DEBUG off."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from mof.config import email_settings, env_bool, env_list

ROOT = Path(__file__).resolve().parents[2]

# Variables the settings read; removed so the subprocess sees only what a test gives it.
SETTINGS_VARS = (
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "EMAIL_URL",
    "DJANGO_SETTINGS_MODULE",
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "USE_X_FORWARDED_PROTO",
    "MOF_BASE_URL",
    # Set by the browser tests for Playwright in this process; never in a deployment.
    "DJANGO_ALLOW_ASYNC_UNSAFE",
)


def run_python(code: str, **env) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARS}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120
    )


def production_env(**extra) -> dict:
    return {
        "DJANGO_SETTINGS_MODULE": "mof.settings",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "portal.example.com",
        "MOF_BASE_URL": "https://portal.example.com",
        **extra,
    }


def test_secret_key_is_required_when_debug_is_off():
    result = run_python(
        "from django.core.exceptions import ImproperlyConfigured\n"
        "try:\n"
        "    import mof.wsgi\n"
        "except ImproperlyConfigured as exc:\n"
        "    print('REFUSED:', exc)\n"
        "else:\n"
        "    print('STARTED')\n",
        DJANGO_SETTINGS_MODULE="mof.settings",
        DEBUG="0",
    )
    assert result.returncode == 0, result.stderr
    assert "REFUSED: SECRET_KEY must be set" in result.stdout


def test_the_portal_refuses_to_start_without_a_base_url_when_debug_is_off():
    env = production_env()
    del env["MOF_BASE_URL"]
    result = run_python(
        "from django.core.exceptions import ImproperlyConfigured\n"
        "try:\n"
        "    import mof.wsgi\n"
        "except ImproperlyConfigured as exc:\n"
        "    print('REFUSED:', exc)\n"
        "else:\n"
        "    print('STARTED')\n",
        **env,
    )
    assert result.returncode == 0, result.stderr
    assert "REFUSED: MOF_BASE_URL must be set" in result.stdout


def test_migrations_run_without_a_secret_key():
    """Deploy steps that need no key (migrate, makemigrations --check) work before the key is set."""
    environ = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARS}
    environ.update(DEBUG="0", DATABASE_URL="sqlite:////tmp/mof-nokey.sqlite3")
    result = subprocess.run(
        [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_debug_without_secret_key_uses_a_development_key():
    result = run_python(
        "import django; django.setup()\n"
        "from django.conf import settings\n"
        "print(settings.DEBUG, bool(settings.SECRET_KEY), settings.ALLOWED_HOSTS)\n",
        DJANGO_SETTINGS_MODULE="mof.settings",
        DEBUG="1",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True True ['localhost', '127.0.0.1', '[::1]']"


def test_production_settings_are_strict():
    result = run_python(
        "import django; django.setup()\n"
        "from django.conf import settings as s\n"
        "print(s.DEBUG, s.ALLOWED_HOSTS, s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE,"
        " s.SECURE_HSTS_SECONDS >= 31536000)\n",
        **production_env(),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False ['portal.example.com'] True True True True"


def test_check_deploy_reports_no_issues_in_production():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**{k: v for k, v in os.environ.items() if k not in SETTINGS_VARS}, **production_env()},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_fails_without_a_base_url_and_a_malformed_one_stops_the_settings():
    env = {**{k: v for k, v in os.environ.items() if k not in SETTINGS_VARS}, **production_env()}
    del env["MOF_BASE_URL"]
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "mof.E001" in result.stderr + result.stdout
    result = run_python("import django; django.setup()", **production_env(MOF_BASE_URL="portal.example.com"))
    assert result.returncode != 0 and "MOF_BASE_URL" in result.stderr


# --- EMAIL_URL --------------------------------------------------------------------


def test_email_url_smtp_with_starttls_and_quoted_credentials():
    config = email_settings("smtp://mailer%40contoso.example:p%40ss%3Aword@smtp.contoso.example:587?tls=1")
    assert config == {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "smtp.contoso.example",
        "EMAIL_PORT": 587,
        "EMAIL_HOST_USER": "mailer@contoso.example",
        "EMAIL_HOST_PASSWORD": "p@ss:word",
        "EMAIL_USE_TLS": True,
        "EMAIL_USE_SSL": False,
    }


def test_email_url_smtps_defaults_to_port_465_and_implicit_tls():
    config = email_settings("smtps://relay.example")
    assert config["EMAIL_PORT"] == 465
    assert config["EMAIL_USE_SSL"] is True and config["EMAIL_USE_TLS"] is False
    assert config["EMAIL_HOST_USER"] == "" and config["EMAIL_HOST_PASSWORD"] == ""


def test_email_url_plain_smtp_defaults_to_port_25_without_tls():
    config = email_settings("smtp://localhost")
    assert (config["EMAIL_HOST"], config["EMAIL_PORT"], config["EMAIL_USE_TLS"]) == ("localhost", 25, False)


@pytest.mark.parametrize(
    "url, backend",
    [
        ("console://", "django.core.mail.backends.console.EmailBackend"),
        ("locmem://", "django.core.mail.backends.locmem.EmailBackend"),
        ("file:///var/spool/mof-mail", "django.core.mail.backends.filebased.EmailBackend"),
    ],
)
def test_email_url_other_backends(url, backend):
    assert email_settings(url)["EMAIL_BACKEND"] == backend


def test_email_url_file_path():
    assert email_settings("file:///srv/mof/var/mail")["EMAIL_FILE_PATH"] == "/srv/mof/var/mail"


def test_email_url_unknown_scheme_is_refused():
    with pytest.raises(ImproperlyConfigured, match="not supported"):
        email_settings("pigeon://loft")


def test_test_settings_keep_mail_in_memory(settings):
    assert settings.EMAIL_BACKEND == "django.core.mail.backends.locmem.EmailBackend"


# --- small helpers ------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected", [("1", True), ("true", True), ("On", True), ("0", False), ("no", False), ("", None)]
)
def test_env_bool(monkeypatch, value, expected):
    monkeypatch.setenv("MOF_TEST_FLAG", value)
    assert env_bool("MOF_TEST_FLAG", default=None) is expected


def test_env_list(monkeypatch):
    monkeypatch.setenv("MOF_TEST_LIST", " portal.example.com, ,api.example.com ")
    assert env_list("MOF_TEST_LIST") == ["portal.example.com", "api.example.com"]
    assert env_list("MOF_TEST_UNSET_LIST", "a,b") == ["a", "b"]
