from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations: outbound webhooks"

    def ready(self):
        from django.core import checks

        from integrations import egress, policy, receivers

        checks.register(egress.check_allowed_setting, checks.Tags.security)
        policy.register()
        receivers.connect()
