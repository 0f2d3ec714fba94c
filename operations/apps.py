from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "operations"
    verbose_name = "Operating: windows, jobs, monitoring"

    def ready(self):
        from operations import events, policy

        policy.register()
        events.connect_receivers()
