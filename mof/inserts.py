"""New rows of a plain model inserted with an INSERT built once per model and row count.

Why: QuerySet.bulk_create() and Model.save() compile their INSERT anew on every call,
passing each value through the compiler's machinery; for the few rows a filing writes (its
SLA event, its three clocks, its audit entry) that costs five to ten times the round trip
(bulk_create of three clocks ~0.45 ms of CPU). Here the statement is built once per
(model, database, number of rows), and each value goes through the same field.pre_save() and
field.get_db_prep_save() the compiler calls: the row stored is the one bulk_create() would
store, and the objects come back with their primary key, as from bulk_create().

The statement is plain SQL (`INSERT INTO t (...) VALUES (...), ... RETURNING t.id`, what
PostgreSQL and SQLite both take), run on a DB-API cursor: no private operation of the
backend (Django 6.0 renamed those of RETURNING), only quote_name() and the documented field
and model APIs.

Like bulk_create() it sends no pre_save/post_save signal: for rows nobody watches being
created. Only for what it covers: a model whose manager's bulk_create() is Django's own (an
audited model records its writes there), PostgreSQL or SQLite returning the keys of a
multi-row INSERT (as bulk_create() relies on), no field with its own placeholder or a database default, plain values (no
expression) and at most MAX_ROWS rows; anything else goes to bulk_create().
"""

from __future__ import annotations

import functools

from django.db import connections, router, transaction
from django.db.models import AutoField, QuerySet
from django.db.models.fields import NOT_PROVIDED

SQL_VENDORS = ("postgresql", "sqlite")  # the INSERT ... VALUES (...), (...) RETURNING written below
MAX_ROWS = 16  # larger batches amortise bulk_create's compilation (and would crowd the cache)


@functools.lru_cache(maxsize=128)
def _statement(model, alias: str, rows: int):
    """(sql, fields, primary key) of a `rows`-row INSERT of `model` returning its key, or None
    when this module does not cover the model on this database."""
    connection = connections[alias]
    opts = model._meta
    features = connection.features
    if connection.vendor not in SQL_VENDORS or not (
        features.can_return_columns_from_insert and features.can_return_rows_from_bulk_insert
    ):
        return None
    if type(model._default_manager.get_queryset()).bulk_create is not QuerySet.bulk_create:
        return None
    pk = opts.pk
    if not isinstance(pk, AutoField) or hasattr(pk, "from_db_value") or list(opts.db_returning_fields) != [pk]:
        return None
    fields = [f for f in opts.concrete_fields if not f.generated and not isinstance(f, AutoField)]
    if any(hasattr(f, "get_placeholder") or f.db_default is not NOT_PROVIDED for f in fields):
        return None
    quote = connection.ops.quote_name
    table = quote(opts.db_table)
    row = f"({', '.join(['%s'] * len(fields))})"
    sql = (
        f"INSERT INTO {table} ({', '.join(quote(f.column) for f in fields)}) "
        f"VALUES {', '.join([row] * rows)} RETURNING {table}.{quote(pk.column)}"
    )
    return sql, tuple(fields), pk


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
        rows = cursor.fetchall()  # the keys, in the order of the VALUES (as bulk_create() takes them)
    for obj, row in zip(objs, rows, strict=True):
        setattr(obj, pk.attname, row[0])  # an integer key: no converter (_statement)
        obj._state.adding = False
        obj._state.db = alias
    return objs
