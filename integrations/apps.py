from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations: outbound webhooks"

    def ready(self):
        from integrations import policy, receivers  # noqa: F401

        policy.register()
        receivers.connect()
