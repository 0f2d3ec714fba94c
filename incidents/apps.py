from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Supporting: service desk, incidents, problems"

    def ready(self):
        from incidents import policy, receivers  # noqa: F401

        policy.register()
