from django.apps import AppConfig


class ChangesConfig(AppConfig):
    name = "changes"
    verbose_name = "Changing: change and release management"

    def ready(self):
        from changes import policy, receivers  # noqa: F401

        policy.register()
