from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "mof.identity"
    label = "identity"
    verbose_name = "Identity: directory sign-in, group mapping and sync"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.db.models.signals import post_migrate

        from mof.identity.services import seed_mappings_after_migrate

        # MOF_DIRECTORY_GROUP_MAP: mappings missing from the database are added after every
        # migrate (those already there, perhaps edited in the admin, are kept as they are).
        post_migrate.connect(seed_mappings_after_migrate, sender=self, dispatch_uid="identity_seed_mappings")
