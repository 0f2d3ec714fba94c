from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "operations"
    verbose_name = "Operating: windows, jobs, monitoring"

    def ready(self):
        from operations import events, policy, tasks_events  # noqa: F401  (tasks_events: the purge task)

        policy.register()
        events.connect_receivers()
