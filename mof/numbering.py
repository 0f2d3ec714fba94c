"""Numbers people say out loud: CHG-1042, INC-20931, PRB-77, REL-12.

On PostgreSQL each numbered table draws from its own sequence (created on first use and
started after the highest number present), so concurrent filings never collide and never
wait for each other; a rolled-back filing leaves a gap, as in every mature tool. Elsewhere
(SQLite serialises writers) the number is the highest plus one.
"""

from django.db import IntegrityError, connection, models, transaction
from django.db.models import Max

from mof.audit import AuditedModel


def _sequence(model) -> str:
    return f"{model._meta.db_table}_number_seq"


def _sync_sequence(model) -> None:
    """Create the sequence if needed and move it past the highest number in the table
    (rows loaded in bulk, e.g. by the benchmarks, do not draw from it)."""
    table, seq = model._meta.db_table, _sequence(model)
    with connection.cursor() as cursor:
        # Only when missing: CREATE ... IF NOT EXISTS still needs the CREATE privilege on the
        # schema, which the portal's runtime role lacks (the sequences exist: sync_sequences).
        cursor.execute("SELECT to_regclass(%s) IS NULL", [seq])
        if cursor.fetchone()[0]:
            cursor.execute(f'CREATE SEQUENCE IF NOT EXISTS "{seq}"')
        cursor.execute(
            f'SELECT setval(%s, GREATEST((SELECT COALESCE(MAX(number), 0) FROM "{table}"), '
            f'(SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM "{seq}"), 1), '
            f'(SELECT COALESCE(MAX(number), 0) > 0 FROM "{table}") OR (SELECT is_called FROM "{seq}"))',
            [seq],
        )


def sync_sequences() -> None:
    """Create (and move on) the sequence of every numbered table: run by the schema's owner
    after migrating, so the portal's runtime role, which may create nothing, finds them."""
    from django.apps import apps

    for model in apps.get_models():
        if issubclass(model, NumberedModel) and not model._meta.proxy:
            _sync_sequence(model)


def next_number(model) -> int:
    if connection.vendor != "postgresql":
        return (model._base_manager.aggregate(m=Max("number"))["m"] or 0) + 1
    # No row when the sequence does not exist yet: asked this way, a missing sequence is not an
    # error, so no savepoint (two more round trips per filing) is needed to survive one.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(seq) FROM (SELECT to_regclass(%s) AS seq) s WHERE seq IS NOT NULL", [_sequence(model)]
        )
        row = cursor.fetchone()
    if row is not None:
        return row[0]
    for _ in range(3):
        try:
            with transaction.atomic():
                _sync_sequence(model)
            break
        except IntegrityError:  # two first filings created it at once: it exists now
            continue
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(%s)", [_sequence(model)])
        return cursor.fetchone()[0]


class NumberedModel(AuditedModel):
    """A business object with a number people quote (`reference`: PREFIX-number)."""

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
        model = type(self)
        for attempt in range(5):
            self.number = next_number(model)
            try:
                with transaction.atomic():
                    self._audit_in_savepoint = True  # AuditedModel.save needs no savepoint of its own inside this one
                    return super().save(*args, **kwargs)
            except IntegrityError:
                taken = model._base_manager.filter(number=self.number).exists()
                if attempt == 4 or (connection.vendor != "postgresql" and not taken):
                    raise
                # A number taken by rows that did not draw from the sequence (or, without
                # a sequence, a concurrent filing): move past them and draw again.
                if connection.vendor == "postgresql":
                    with transaction.atomic():
                        _sync_sequence(model)
                self.pk = None
                self._state.adding = True
