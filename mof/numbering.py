"""Numbers people say out loud: CHG-1042, INC-20931, PRB-77, REL-12."""
from django.db import IntegrityError, models, transaction
from django.db.models import Max

from mof.audit import AuditedModel


class NumberedModel(AuditedModel):
    """Numbers people say out loud (CHG-1042): max + 1, unique, retried on a clash."""

    number_prefix = ""
    number = models.PositiveIntegerField(unique=True, editable=False)

    class Meta:
        abstract = True

    @property
    def reference(self) -> str:
        return f"{self.number_prefix}-{self.number}"

    def save(self, *args, **kwargs):
        if self.number is not None:
            return super().save(*args, **kwargs)
        for attempt in range(10):
            self.number = (type(self)._base_manager.aggregate(m=Max("number"))["m"] or 0) + 1
            try:
                with transaction.atomic():
                    return super().save(*args, **kwargs)
            except IntegrityError:
                if attempt == 9 or type(self)._base_manager.filter(number=self.number).count() == 0:
                    raise
                self.pk = None
                self._state.adding = True
