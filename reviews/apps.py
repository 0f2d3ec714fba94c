from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"
    verbose_name = "Reviews: the four MOF review milestones"

    def ready(self):
        from reviews import decisions, policy, receivers  # noqa: F401 - the decisions registry fills itself

        policy.register()
