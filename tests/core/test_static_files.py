"""Static files with DEBUG off are served by the web process (WhiteNoise) under the hashed,
compressed names collectstatic writes; templates name them only through {% static %}.
Serving them under gunicorn: tests/integration/test_production_processes.py."""

import re
from pathlib import Path

from django.conf import settings

from tests.core.test_settings_config import production_env, run_python

ROOT = Path(__file__).resolve().parents[2]


def test_whitenoise_comes_right_after_the_security_middleware():
    position = settings.MIDDLEWARE.index("django.middleware.security.SecurityMiddleware")
    assert settings.MIDDLEWARE[position + 1] == "whitenoise.middleware.WhiteNoiseMiddleware"


def test_production_settings_collect_hashed_compressed_files_and_debug_finds_them_in_place():
    code = "from django.conf import settings; print(settings.STORAGES['staticfiles']['BACKEND'], settings.WHITENOISE_AUTOREFRESH)"
    result = run_python(code, **production_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["whitenoise.storage.CompressedManifestStaticFilesStorage", "False"]
    result = run_python(code, **{**production_env(), "DEBUG": "1"})
    assert result.stdout.split() == ["django.contrib.staticfiles.storage.StaticFilesStorage", "True"]


def test_templates_name_static_files_only_through_the_static_tag():
    # A literal /static/... path would miss the hashed name (and its year of caching).
    literal = re.compile(r"""(?:href|src)=["']/?static/""")
    offenders = [
        str(p.relative_to(ROOT)) for p in (ROOT / "templates").rglob("*.html") if literal.search(p.read_text())
    ]
    offenders += [
        str(p.relative_to(ROOT))
        for app in ("mof", "changes", "operations", "incidents", "slas", "reviews", "integrations")
        for p in (ROOT / app).rglob("templates/**/*.html")
        if literal.search(p.read_text())
    ]
    assert not offenders
