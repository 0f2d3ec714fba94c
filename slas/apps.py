from django.apps import AppConfig


class SlasConfig(AppConfig):
    name = "slas"
    verbose_name = "Optimizing: service levels, availability, capacity"

    def ready(self):
        from slas import availability, capacity, policy, receivers  # noqa: F401  (registers their policy rules)

        policy.register()
