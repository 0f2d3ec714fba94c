# The portal's one image: web (gunicorn), Celery worker and beat, chosen by the command
# (bin/portal web|worker|beat|migrate). Build: docker build -t mof-portal .

# --- build: the dependencies into a virtualenv, wheels compiled where needed ------------
FROM python:3.12-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /venv
ENV PATH=/venv/bin:$PATH
WORKDIR /src
# The dependencies first: this layer is rebuilt only when pyproject.toml changes.
# The code itself runs from /app (as manage.py does), so only its dependencies are installed.
# Django: the 5.2 LTS (the constraint make install uses too; CI also runs the suite on 6.0).
COPY pyproject.toml .ci/django-5.2.txt ./
# python-ldap (django-auth-ldap, directory sign-in) compiles against OpenLDAP and Cyrus SASL.
RUN apt-get update -q && apt-get install -y -q --no-install-recommends build-essential libldap2-dev libsasl2-dev \
    && rm -rf /var/lib/apt/lists/*
RUN python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt -c django-5.2.txt
COPY . .
# The static files, collected with hashed names and .gz/.br copies (WhiteNoise); no setting
# but DEBUG=0 is needed for it.
RUN DEBUG=0 STATIC_ROOT=/src/staticfiles MOF_VAR_DIR=/tmp/var python manage.py collectstatic --noinput -v 0

# --- runtime: the virtualenv, the code and the collected files, run as a user ----------
FROM python:3.12-slim AS runtime
ENV PATH=/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=mof.settings \
    STATIC_ROOT=/app/staticfiles \
    MOF_VAR_DIR=/app/var \
    PORT=8000
# The OpenLDAP and SASL libraries python-ldap links to.
RUN apt-get update -q && apt-get install -y -q --no-install-recommends libldap-2.5-0 libsasl2-2 \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 mof \
    && useradd --system --uid 10001 --gid mof --home-dir /app --shell /usr/sbin/nologin mof
WORKDIR /app
COPY --from=build /venv /venv
COPY --from=build --chown=root:root /src /app
# Only var/ (mail files, beat's heartbeat, the file cache) and the files' volume (attachments,
# stored backups: docker-compose.yml mounts it; a new named volume takes this ownership) are
# writable by the portal.
RUN mkdir -p /app/var /srv/mof-files && chown mof:mof /app/var /srv/mof-files
USER mof
EXPOSE 8000
ENTRYPOINT ["/app/bin/portal"]
CMD ["web"]
