"""API of Security administration: service accounts and their tokens (admins), a
person's own tokens, and the token endpoint. Thin: mof.tokens does the work and asks
mof.policy; every endpoint here is policy-checked."""

from django.contrib.auth import authenticate
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import Throttled, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from mof import lockout, policy, tokens
from mof.api import serializers_accounts as s
from mof.api.fields import SPARSE_ACTIONS, SparseFieldsMixin
from mof.api.parsers import PortalJSONParser
from mof.api.throttling import PortalRateThrottle

ERRORS = {400: OpenApiTypes.OBJECT, 403: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT}


def _issued(token, key, code=status.HTTP_201_CREATED):
    data = s.IssuedTokenSerializer(token).data
    data["key"] = key
    return Response(data, status=code)


class ObtainTokenView(APIView):
    """Exchange a username and password for a personal API token (people only; service
    accounts get theirs from an admin). Wrong passwords for a username from one address
    make that pair wait, longer after each (mof.lockout): 429 with Retry-After."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [PortalRateThrottle]
    throttle_scope = "login"
    parser_classes = [FormParser, MultiPartParser, PortalJSONParser]

    @extend_schema(
        request=s.SignInSerializer,
        responses={200: s.SignInTokenSerializer, 400: OpenApiTypes.OBJECT, 429: OpenApiTypes.OBJECT},
        summary="Obtain an API token",
        auth=[],
    )
    def post(self, request):
        serializer = s.SignInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        username, password = serializer.validated_data["username"], serializer.validated_data["password"]
        address = lockout.client_address(request)
        try:
            lockout.ensure_not_locked(username=username, address=address, via="api")
        except lockout.LockedOut as exc:
            raise Throttled(wait=exc.seconds, detail=str(exc)) from None
        user = authenticate(
            request=request, username=username, password=password
        )  # a failure is counted by mof.lockout
        if user is None:
            raise ValidationError({"non_field_errors": ["Unable to log in with provided credentials."]})
        lockout.record_success(username=username, address=address)
        token, key = tokens.token_issue_at_sign_in(user=user)
        return Response({"token": key, "expires_at": token.expires_at})


class TokenActionsMixin:
    """Rotate and revoke of one token, shared by the service-account and personal endpoints."""

    def _rotate(self, request, token):
        body = s.RotateSerializer(data=request.data if isinstance(request.data, dict) else {})
        body.is_valid(raise_exception=True)
        new, key = tokens.token_rotate(
            actor=request.user, token=token, grace_minutes=body.validated_data["grace_minutes"]
        )
        return _issued(new, key)

    def _revoke(self, request, token):
        return Response(s.ApiTokenSerializer(tokens.token_revoke(actor=request.user, token=token)).data)

    def _issue(self, request, owner):
        body = s.ApiTokenCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        token, key = tokens.token_issue(actor=request.user, owner=owner, **body.validated_data)
        return _issued(token, key)


class ServiceAccountViewSet(
    SparseFieldsMixin,
    TokenActionsMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Service accounts for integrations (admins only): users that act through API tokens
    with exactly the permissions of their role clusters, and cannot sign in to the pages."""

    serializer_class = s.ServiceAccountSerializer
    sparse_actions = (*SPARSE_ACTIONS, "tokens")
    search_fields = ["username", "first_name", "email"]
    ordering_fields = ["username", "id"]
    filterset_fields = ["is_active"]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        policy.require(request.user, "service_account.manage")

    def get_queryset(self):
        return tokens.service_account_list(user=self.request.user)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        account = tokens.service_account_create(actor=request.user, **serializer.validated_data)
        return Response(
            self.get_serializer(self.get_queryset().get(pk=account.pk)).data, status=status.HTTP_201_CREATED
        )

    def update(self, request, *args, **kwargs):
        account = self.get_object()
        serializer = self.get_serializer(account, data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        data.pop("username", None)
        if kwargs.get("partial") and "roles" not in request.data:
            data.pop("roles", None)  # the field's default must not reset the roles of a PATCH
        tokens.service_account_update(actor=request.user, account=account, **data)
        return Response(self.get_serializer(self.get_queryset().get(pk=account.pk)).data)

    def _token(self, request, pk, token_id):
        return tokens.token_get(user=request.user, owner=self.get_object(), pk=token_id)

    @extend_schema(methods=["GET"], responses=s.ApiTokenSerializer(many=True), summary="The account's tokens")
    @extend_schema(
        methods=["POST"],
        request=s.ApiTokenCreateSerializer,
        responses={201: s.IssuedTokenSerializer, **ERRORS},
        summary="Issue a token (its key is shown once)",
    )
    @action(detail=True, methods=["get", "post"], url_path="tokens", filter_backends=[])
    def tokens(self, request, pk=None):
        account = self.get_object()
        if request.method == "POST":
            return self._issue(request, account)
        # A plain array, as every action but list and history (an admin issues these few by hand).
        return Response(
            self.sparse(s.ApiTokenSerializer(tokens.token_list(user=request.user, owner=account), many=True)).data
        )

    @extend_schema(
        request=s.RotateSerializer,
        responses={201: s.IssuedTokenSerializer, **ERRORS},
        summary="Rotate a token: a new key, the old one revoked (after an optional grace period)",
    )
    @action(detail=True, methods=["post"], url_path=r"tokens/(?P<token_id>[0-9]+)/rotate", filter_backends=[])
    def rotate_token(self, request, pk=None, token_id=None):
        return self._rotate(request, self._token(request, pk, token_id))

    @extend_schema(request=None, responses={200: s.ApiTokenSerializer, **ERRORS}, summary="Revoke a token at once")
    @action(detail=True, methods=["post"], url_path=r"tokens/(?P<token_id>[0-9]+)/revoke", filter_backends=[])
    def revoke_token(self, request, pk=None, token_id=None):
        return self._revoke(request, self._token(request, pk, token_id))


class MyTokenViewSet(
    SparseFieldsMixin, TokenActionsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Your own API tokens (people; a service account's are managed by an admin)."""

    serializer_class = s.ApiTokenSerializer
    filter_backends = []

    def get_queryset(self):
        return tokens.token_list(user=self.request.user, owner=self.request.user)

    @extend_schema(
        request=s.ApiTokenCreateSerializer,
        responses={201: s.IssuedTokenSerializer, **ERRORS},
        summary="Issue yourself a token (its key is shown once)",
    )
    def create(self, request, *args, **kwargs):
        return self._issue(request, request.user)

    @extend_schema(
        request=s.RotateSerializer,
        responses={201: s.IssuedTokenSerializer, **ERRORS},
        summary="Rotate one of your tokens",
    )
    @action(detail=True, methods=["post"])
    def rotate(self, request, pk=None):
        return self._rotate(request, self.get_object())

    @extend_schema(request=None, responses={200: s.ApiTokenSerializer, **ERRORS}, summary="Revoke one of your tokens")
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        return self._revoke(request, self.get_object())
