"""New rows of a plain model inserted with an INSERT built once per model and row count.

Why: QuerySet.bulk_create() and Model.save() compile their INSERT anew on every call,
passing each value through the compiler's machinery; for the few rows a filing writes (its
SLA event, its three clocks, its audit entry) that costs five to ten times the round trip
(bulk_create of three clocks ~0.45 ms of CPU). Here the statement is built once per
(model, database, number of rows) from the backend's own operations, and each value goes
through the same field.pre_save() and field.get_db_prep_save() the compiler calls: the row
stored is the one bulk_create() would store, and the objects come back with their primary
key, as from bulk_create().

Like bulk_create() it sends no pre_save/post_save signal: for rows nobody watches being
created. Only for what it covers: a model whose manager's bulk_create() is Django's own (an
audited model records its writes there), a backend that returns the keys of a multi-row
INSERT, no field with its own placeholder or a database default, plain values (no
expression) and at most MAX_ROWS rows; anything else goes to bulk_create().
"""
from __future__ import annotations

import functools

from django.db import connections, router, transaction
from django.db.models import AutoField, QuerySet
from django.db.models.fields import NOT_PROVIDED

MAX_ROWS = 16  # larger batches amortise bulk_create's compilation (and would crowd the cache)


@functools.lru_cache(maxsize=128)
def _statement(model, alias: str, rows: int):
    """(sql, fields, primary key) of a `rows`-row INSERT of `model` returning its key, or None
    when this module does not cover the model on this database."""
    connection = connections[alias]
    opts = model._meta
    features, ops = connection.features, connection.ops
    if not (features.can_return_columns_from_insert and features.can_return_rows_from_bulk_insert and features.has_bulk_insert):
        return None
    if type(model._default_manager.get_queryset()).bulk_create is not QuerySet.bulk_create:
        return None
    if not isinstance(opts.pk, AutoField) or list(opts.db_returning_fields) != [opts.pk]:
        return None
    fields = [f for f in opts.concrete_fields if not f.generated and not isinstance(f, AutoField)]
    if any(hasattr(f, "get_placeholder") or f.db_default is not NOT_PROVIDED for f in fields):
        return None
    quote = ops.quote_name
    returning, returning_params = ops.return_insert_columns([opts.pk])
    if returning_params:
        return None
    placeholders = [["%s"] * len(fields)] * rows
    sql = " ".join([
        f"{ops.insert_statement(on_conflict=None)} {quote(opts.db_table)}",
        f"({', '.join(quote(f.column) for f in fields)})",
        ops.bulk_insert_sql(fields, placeholders),
        returning,
    ])
    return sql, tuple(fields), opts.pk


def insert(objs, *, using: str | None = None) -> list:
    """Insert the new (unsaved, keyless) objects of one model; as bulk_create(objs) does."""
    objs = list(objs)
    if not objs:
        return objs
    model = type(objs[0])
    alias = using or router.db_for_write(model)
    statement = None
    if len(objs) <= MAX_ROWS and all(type(o) is model and o.pk is None for o in objs):
        statement = _statement(model, alias, len(objs))
    if statement is None:
        return model._default_manager.using(alias).bulk_create(objs)
    sql, fields, pk = statement
    connection = connections[alias]
    params = []
    for obj in objs:
        obj._prepare_related_fields_for_save(operation_name="bulk_create")
        values = [field.pre_save(obj, add=True) for field in fields]
        if any(hasattr(value, "resolve_expression") for value in values):
            return model._default_manager.using(alias).bulk_create(objs)
        params.extend(field.get_db_prep_save(value, connection=connection) for field, value in zip(fields, values))
    # As the ORM's writes: an error inside an atomic block marks it for rollback.
    with transaction.mark_for_rollback_on_error(using=alias), connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = connection.ops.fetch_returned_insert_rows(cursor) if len(objs) > 1 else [connection.ops.fetch_returned_insert_columns(cursor, ())]
    col = pk.get_col(model._meta.db_table)
    converters = [*connection.ops.get_db_converters(col), *pk.get_db_converters(connection)]
    for obj, row in zip(objs, rows):
        value = row[0]
        for convert in converters:
            value = convert(value, col, connection)
        setattr(obj, pk.attname, value)
        obj._state.adding = False
        obj._state.db = alias
    return objs
