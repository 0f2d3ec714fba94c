from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connections
from django.db.models import F, IntegerField
from rest_framework import relations, serializers
from rest_framework.fields import SkipField, empty

from incidents.choices import Channel, NoteKind, Scale
from incidents.models import (
    InboundMessage,
    Incident,
    IncidentNote,
    KnownError,
    MajorIncidentUpdate,
    PriorityRule,
    Problem,
    ProblemProposal,
)
from mof import policy
from mof.api import reads
from mof.api.serializers import VisibleCIsMixin
from mof.models import ConfigurationItem, Service, Team, User


class IncidentSerializer(VisibleCIsMixin, serializers.ModelSerializer):
    ci_fields = ("affected_cis",)
    reference = serializers.CharField(read_only=True)
    caller = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True),
        required=False,
        help_text="Defaults to you; filing for someone else is for the service desk.",
    )
    channel = serializers.ChoiceField(choices=Channel.choices, default=Channel.API)
    service = serializers.PrimaryKeyRelatedField(queryset=Service.objects.all(), required=False, allow_null=True)
    affected_cis = serializers.PrimaryKeyRelatedField(
        many=True, queryset=ConfigurationItem.objects.all(), required=False
    )
    impact = serializers.ChoiceField(choices=Scale.choices, required=False)
    urgency = serializers.ChoiceField(choices=Scale.choices, required=False)
    assignment_group = serializers.PrimaryKeyRelatedField(queryset=Team.objects.all(), required=False, allow_null=True)
    assignee = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True), required=False, allow_null=True
    )
    reason = serializers.CharField(
        write_only=True, required=False, allow_blank=True, help_text="Why the incident moves to another group."
    )
    parent = serializers.PrimaryKeyRelatedField(
        queryset=Incident.objects.all(),
        required=False,
        allow_null=True,
        help_text="The major incident this one is a child of. Set it on an update to link the incident as a child (as the incident page does); a child is not unlinked.",
    )

    class Meta:
        model = Incident
        fields = [
            "id",
            "reference",
            "number",
            "title",
            "description",
            "caller",
            "channel",
            "service",
            "affected_cis",
            "impact",
            "urgency",
            "priority",
            "category",
            "assignment_group",
            "assignee",
            "status",
            "hold_reason",
            "resolution_code",
            "resolution_notes",
            "resolved_at",
            "closed_at",
            "reopen_count",
            "problem",
            "known_error",
            "is_major",
            "major_incident_manager",
            "parent",
            "outage_start",
            "outage_end",
            "created_at",
            "updated_at",
            "reason",
        ]
        read_only_fields = [
            "number",
            "priority",
            "status",
            "hold_reason",
            "resolution_code",
            "resolution_notes",
            "resolved_at",
            "closed_at",
            "reopen_count",
            "problem",
            "is_major",
            "major_incident_manager",
            "created_at",
            "updated_at",
        ]


# --- a create's input validated with fields built once --------------------------------
#
# Why: building a ModelSerializer copies its declared fields and builds one per model field
# on every request (a fifth of a filing's CPU), and each primary key it is given costs a
# query of its own. Here the class's fields are built once (mof.api.reads keeps one instance
# per class), every plain field validates the input exactly as DRF's Serializer does (the
# same field objects, the same calls), and the primary keys of all relations are looked up
# together in one query. Only the ordinary case is taken: any error, and any input this
# does not judge as DRF would (a string where an id is expected, a form post...), goes to
# the serializer itself, which answers the 400 with its own messages (or accepts it).

_MAX_ID = 2**31  # larger ids (or none at all) are left to DRF's lookup and its message
_steps_of: dict = {}


def _steps(serializer_class):
    """[(field, kind)] for the writable fields of `serializer_class`, kind being "plain",
    "one" or "many" (a primary key or a list of them); None when its validation has hooks
    this cannot repeat (a validate method, validators of the serializer or of a relation,
    a nested serializer, a default needing the request)."""
    steps = _steps_of.get(serializer_class)
    if steps is None:
        steps = _steps_of[serializer_class] = _build_steps(serializer_class) or False
    return steps or None


def _build_steps(serializer_class):
    base = serializers.Serializer
    if not issubclass(serializer_class, base) or any(
        getattr(serializer_class, hook) is not getattr(base, hook)
        for hook in ("run_validation", "to_internal_value", "run_validators", "validate")
    ):
        return None
    template = reads.template(serializer_class)
    if template.validators:
        return None
    steps = []
    for field in template._writable_fields:
        if (
            hasattr(serializer_class, f"validate_{field.field_name}")
            or len(field.source_attrs) != 1
            or getattr(field.default, "requires_context", False)
        ):
            return None
        if isinstance(field, relations.ManyRelatedField):
            if field.validators or not _plain_pk(field.child_relation):
                return None
            steps.append((field, "many"))
        elif isinstance(field, relations.RelatedField):
            if not _plain_pk(field):
                return None
            steps.append((field, "one"))
        elif isinstance(field, serializers.BaseSerializer):
            return None
        else:
            steps.append((field, "plain"))
    return steps


def _plain_pk(relation) -> bool:
    """A PrimaryKeyRelatedField itself, without validators, on an integer key, looking up in
    an unsliced queryset: what the one query of _found() answers as DRF's lookup would."""
    if type(relation) is not relations.PrimaryKeyRelatedField or relation.pk_field is not None or relation.validators:
        return False
    queryset = relation.get_queryset()
    return not queryset.query.is_sliced and isinstance(queryset.model._meta.pk, IntegerField)


def _queryset(serializer_class, field, user):
    """(queryset, key): the queryset DRF looks a primary key up in, the field's (a list's
    child's), under a key its SQL is kept by; or, for a CI field of VisibleCIsMixin (one CI or
    a list), the CIs the caller may see (key None: it is the user's)."""
    if issubclass(serializer_class, VisibleCIsMixin) and field.field_name in serializer_class.ci_fields:
        return policy.visible_cis(user), None
    if isinstance(field, relations.ManyRelatedField):
        return field.child_relation.get_queryset(), (serializer_class, field.field_name)
    return field.get_queryset(), (serializer_class, field.field_name)


def quick_input(serializer_class, data, *, user):
    """A create's validated input as `serializer_class(data=data).validated_data` would hold it,
    except that relations are ids: (values, ids), ids being {source: id, or list of ids} of
    related objects found in the database. None when DRF's serializer must judge the input
    (see above): invalid input is always left to it."""
    steps = _steps(serializer_class)
    if steps is None or type(data) is not dict:  # a JSON object (a form's QueryDict reads otherwise)
        return None
    if not data.keys() <= {field.field_name for field, _ in steps}:
        return None  # a name it does not take (unknown, read-only): the serializer refuses it (mof.api.strict)
    values, wanted, kinds = {}, [], {}
    for field, kind in steps:
        primitive = data.get(field.field_name, empty)
        if kind != "plain" and isinstance(primitive, str):  # DRF turns "" into null and looks up "12": its path
            return None
        try:
            if kind == "plain":
                values[field.source] = field.run_validation(primitive)
                continue
            is_empty, value = field.validate_empty_values(primitive)
        except SkipField:  # not given, no default: left out, as DRF does
            continue
        except (serializers.ValidationError, DjangoValidationError):
            return None
        if is_empty:
            values[field.source] = value
            continue
        ids = [value] if kind == "one" else value
        if type(ids) is not list or not all(type(pk) is int and 0 < pk < _MAX_ID for pk in ids):
            return None
        if not ids:
            if kind == "many" and not field.allow_empty:
                return None
            values[field.source] = []
            continue
        queryset, key = _queryset(serializer_class, field, user)
        wanted.append((field.source, key, queryset, ids))
        kinds[field.source] = kind
    found = _found(wanted)
    ids = {}
    for source, _, _, given in wanted:
        if not found[source].issuperset(given):
            return None  # "does not exist": DRF's message
        ids[source] = given[0] if kinds[source] == "one" else given
    return values, ids


def _found(wanted) -> dict:
    """{source: ids found} for [(source, key, queryset, ids)], in one query: a UNION ALL of
    `SELECT i, pk FROM (<the queryset's SQL>) WHERE pk IN (ids)`, each queryset's SQL compiled
    once (compiling the querysets of a filing every time cost more than the two lookups it
    replaces; a per-user queryset is compiled each time)."""
    found = {source: set() for source, *_ in wanted}
    if not wanted:
        return found
    using = wanted[0][2].db
    connection = connections[using]
    quote = connection.ops.quote_name
    parts, params = [], []
    for i, (_, key, queryset, ids) in enumerate(wanted):
        if queryset.db != using:  # another database: looked up on its own
            found[wanted[i][0]] = set(queryset.filter(pk__in=ids).values_list("pk", flat=True))
            continue
        sql, inner = _pk_sql(queryset, key, using)
        parts.append(
            f"SELECT {i}, q.{quote('_pk')} FROM ({sql}) q WHERE q.{quote('_pk')} IN ({', '.join(['%s'] * len(ids))})"
        )
        params += [*inner, *ids]
    if parts:
        with connection.cursor() as cursor:
            cursor.execute(" UNION ALL ".join(parts), params)
            for i, pk in cursor.fetchall():
                found[wanted[i][0]].add(pk)
    return found


_pk_sqls: dict = {}


def _pk_sql(queryset, key, using):
    """(sql, params) selecting the primary keys of `queryset` as _pk; kept under `key` (None:
    a queryset of this request only)."""
    kept = _pk_sqls.get((key, using)) if key is not None else None
    if kept is None:
        query = queryset.order_by().values(_pk=F("pk")).query
        kept = query.get_compiler(using=using).as_sql()
        if key is not None:
            _pk_sqls[key, using] = kept
    return kept


class CallerIncidentSerializer(serializers.ModelSerializer):
    """What a caller sees of their own incident: no internal fields."""

    reference = serializers.CharField(read_only=True)

    class Meta:
        model = Incident
        fields = [
            "id",
            "reference",
            "number",
            "title",
            "description",
            "service",
            "urgency",
            "priority",
            "status",
            "resolution_code",
            "resolution_notes",
            "resolved_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class IncidentListSerializer(serializers.ModelSerializer):
    reference = serializers.CharField(read_only=True)

    class Meta:
        model = Incident
        fields = [
            "id",
            "reference",
            "number",
            "title",
            "status",
            "priority",
            "caller",
            "service",
            "assignment_group",
            "assignee",
            "is_major",
            "created_at",
            "updated_at",
        ]


class IncidentNoteSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=NoteKind.choices, default=NoteKind.COMMENT)

    class Meta:
        model = IncidentNote
        fields = ["id", "kind", "author", "body", "created_at"]
        read_only_fields = ["author", "created_at"]


class AssignSerializer(serializers.Serializer):
    assignment_group = serializers.PrimaryKeyRelatedField(queryset=Team.objects.all())
    assignee = serializers.PrimaryKeyRelatedField(queryset=User.objects.filter(is_active=True))
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class EscalateSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class DeclareMajorSerializer(serializers.Serializer):
    major_incident_manager = serializers.PrimaryKeyRelatedField(queryset=User.objects.filter(is_active=True))
    outage_start = serializers.DateTimeField(required=False)


class CommunicationSerializer(serializers.ModelSerializer):
    recipients = serializers.ListField(child=serializers.CharField(max_length=254), allow_empty=False)

    class Meta:
        model = MajorIncidentUpdate
        fields = ["id", "author", "body", "recipients", "created_at", "sent_at"]
        read_only_fields = ["author", "created_at", "sent_at"]


class BulkSerializer(serializers.Serializer):
    incidents = serializers.ListField(child=serializers.IntegerField(min_value=1), allow_empty=False, max_length=500)
    action = serializers.ChoiceField(choices=["assign", "set_priority", "resolve_duplicate"])
    assignment_group = serializers.PrimaryKeyRelatedField(queryset=Team.objects.all(), required=False)
    assignee = serializers.PrimaryKeyRelatedField(queryset=User.objects.filter(is_active=True), required=False)
    impact = serializers.ChoiceField(choices=Scale.choices, required=False)
    urgency = serializers.ChoiceField(choices=Scale.choices, required=False)
    duplicate_of = serializers.PrimaryKeyRelatedField(queryset=Incident.objects.all(), required=False)
    reason = serializers.CharField(required=False, allow_blank=True)

    def validate(self, data):
        needs = {
            "assign": ["assignment_group", "assignee"],
            "set_priority": ["impact", "urgency"],
            "resolve_duplicate": ["duplicate_of"],
        }[data["action"]]
        missing = {name: "This field is required for this action." for name in needs if name not in data}
        if missing:
            raise serializers.ValidationError(missing)
        return data


class PriorityRuleSerializer(serializers.ModelSerializer):
    class Meta:
        model = PriorityRule
        fields = ["id", "impact", "urgency", "priority"]
        read_only_fields = ["impact", "urgency"]
        extra_kwargs = {"priority": {"min_value": 1, "max_value": 5}}


class AssignmentGroupSerializer(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "name", "role_cluster", "manager", "members"]
        read_only_fields = fields


class ProblemSerializer(serializers.ModelSerializer):
    reference = serializers.CharField(read_only=True)
    incidents = serializers.PrimaryKeyRelatedField(many=True, queryset=Incident.objects.all(), required=False)

    class Meta:
        model = Problem
        fields = [
            "id",
            "reference",
            "number",
            "title",
            "description",
            "problem_manager",
            "services",
            "affected_cis",
            "incidents",
            "rca_notes",
            "root_cause",
            "workaround",
            "fixing_changes",
            "status",
            "known_error_published_at",
            "resolved_at",
            "closure_reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "number",
            "status",
            "known_error_published_at",
            "resolved_at",
            "closure_reason",
            "created_at",
            "updated_at",
        ]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if "incidents" in self.fields:  # pruned by ?fields=
            data["incidents"] = [i.pk for i in instance.incidents.all()]
        return data


class KnownErrorSerializer(serializers.ModelSerializer):
    problem_reference = serializers.CharField(source="problem.reference", read_only=True)

    class Meta:
        model = KnownError
        fields = [
            "id",
            "problem",
            "problem_reference",
            "title",
            "symptoms",
            "root_cause",
            "workaround",
            "services",
            "cis",
            "published_at",
            "active",
        ]
        read_only_fields = fields


class ProblemProposalSerializer(serializers.ModelSerializer):
    class Meta:
        model = ProblemProposal
        fields = [
            "id",
            "scope",
            "ci",
            "service",
            "incidents",
            "incident_count",
            "window_start",
            "window_end",
            "status",
            "decided_by",
            "problem",
            "created_at",
        ]
        read_only_fields = fields


class InboundMessageSerializer(serializers.ModelSerializer):
    """A mail the service desk received and what became of it (incidents.mailbox)."""

    attachment_names = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = InboundMessage
        fields = [
            "id",
            "message_id",
            "mailbox",
            "uidvalidity",
            "uid",
            "from_address",
            "from_name",
            "subject",
            "sent_at",
            "received_at",
            "outcome",
            "reason",
            "body",
            "attachment_names",
            "size",
            "sender",
            "incident",
            "note",
            "change",
            "decided_by",
            "decided_at",
        ]
        read_only_fields = fields
