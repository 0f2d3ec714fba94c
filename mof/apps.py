from django.apps import AppConfig


class MofConfig(AppConfig):
    name = "mof"
    verbose_name = "MOF core: team model, CMDB, risk, audit"

    def ready(self):
        from django.contrib.auth.signals import user_login_failed

        from mof import audit, checks  # noqa: F401 - registers the system checks
        from mof.api import strict

        strict.install()  # no serializer silently ignores a field it was sent

        def on_login_failed(sender, credentials, request=None, **kwargs):
            via = "api" if request is not None and request.path.startswith("/api/") else "web"
            remote = request.META.get("REMOTE_ADDR", "") if request is not None else ""
            audit.record_login_failure(username=str(credentials.get("username", "")), via=via, remote_addr=remote)

        user_login_failed.connect(on_login_failed, dispatch_uid="mof_login_failed", weak=False)

        from django.db.models.signals import post_migrate

        from mof.dbroles import grant_after_migrate

        # After every migrate (as the schema's owner): the tables new migrations created reach
        # the runtime role too, with the append-only logs read-and-add only.
        post_migrate.connect(grant_after_migrate, dispatch_uid="mof_grant_runtime_role")

        from mof.api.parsers import refuse_float_ids

        refuse_float_ids()
