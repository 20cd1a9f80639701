"""``field__any=values``: ``field IN (values)`` for many plain values, as one array parameter on PostgreSQL.

The send path filters by hundreds of ids per statement (a claim's jobs, messages, numbers). Django prepares,
adapts and quotes each value of an ``__in`` list on its own, and writes one placeholder per value: for a claim
of 200 messages that was a tenth of the worker's database thread. ``__any`` takes a list of ints or of strings as
it is and writes ``field = ANY(%s)`` (the same plan: an index scan on the field); other databases get the same
``IN (…)`` as ``__in``. Registered on every field when this module is imported (by the ``messaging`` and ``jobs``
apps as they start).
"""

from __future__ import annotations

from django.core.exceptions import EmptyResultSet
from django.db.models import Field, ForeignObject, Lookup


class AnyOf(Lookup):
    lookup_name = "any"
    prepare_rhs = False

    def get_prep_lookup(self) -> list:
        values = list(self.rhs)
        kinds = {type(value) for value in values}
        if not kinds <= {int} and not kinds <= {str}:
            # The one array parameter must have one type; anything else (expressions, models, mixes) is __in's job.
            raise TypeError(f"__any takes a list of ints or of strings, got {sorted(k.__name__ for k in kinds)}")
        return values

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        if not self.rhs:
            raise EmptyResultSet
        return f"{lhs} IN ({', '.join(['%s'] * len(self.rhs))})", (*params, *self.rhs)

    def as_postgresql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s)", (*params, self.rhs)


Field.register_lookup(AnyOf)
ForeignObject.register_lookup(AnyOf)  # relations keep lookups of their own: ``team_id__any`` too
