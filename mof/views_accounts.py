"""Pages of Security administration (Operating quadrant): service accounts and their
tokens (admins), a person's own API tokens, and login lockouts. Thin: mof.tokens and
mof.lockout do the work and ask mof.policy. A new key is rendered once, in the response
to the POST that created it: never stored, never put in a redirect or the session."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from mof import csv_io, lockout, policy, tokens
from mof.forms import attempt
from mof.forms_accounts import RotateForm, ServiceAccountForm, TokenForm
from mof.pagination import paginate, parse_positive_int

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


def _page(request, qs):
    return paginate(
        qs,
        page=parse_positive_int(request.GET.get("page"), 1),
        page_size=parse_positive_int(request.GET.get("page_size"), PAGE_SIZE, MAX_PAGE_SIZE),
    )


def _require(user, action, obj=None, message="You may not do this."):
    if not policy.can(user, action, obj):
        raise PermissionDenied(message)


def _account(request, pk):
    try:
        return tokens.service_account_get(user=request.user, pk=pk)
    except ObjectDoesNotExist:
        raise Http404("No such service account.") from None


# --- service accounts ---------------------------------------------------------------


SERVICE_ACCOUNT_EXPORT_COLUMNS = csv_io.columns(
    ("Account", "username"),
    ("Display name", "first_name"),
    ("Role clusters", lambda a: [r.get_role_display() for r in a.role_assignments.all()]),
    ("Active", "is_active"),
    ("Live tokens", "live_tokens"),
)


@login_required
def service_account_list(request):
    _require(request.user, "service_account.manage", message="Only administrators manage service accounts.")
    q = request.GET.get("q", "").strip()
    qs = tokens.service_account_list(user=request.user)
    if q:
        qs = qs.filter(username__icontains=q)
    if csv_io.export_requested(request):
        return csv_io.export_csv(qs, SERVICE_ACCOUNT_EXPORT_COLUMNS, filename="service-accounts")
    return render(request, "mof/accounts/service_account_list.html", {"page": _page(request, qs), "q": q})


@login_required
def service_account_create(request):
    _require(request.user, "service_account.manage", message="Only administrators create service accounts.")
    form = ServiceAccountForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            account, status = attempt(
                form, lambda: tokens.service_account_create(actor=request.user, **form.service_fields())
            )
            if account is not None:
                messages.success(request, f"Service account {account.username} created. Issue it a token below.")
                return redirect("service_account_detail", pk=account.pk)
    return render(request, "mof/accounts/service_account_form.html", {"form": form, "account": None}, status=status)


@login_required
def service_account_edit(request, pk):
    _require(request.user, "service_account.manage", message="Only administrators change service accounts.")
    account = _account(request, pk)
    initial = {
        "username": account.username,
        "first_name": account.first_name,
        "email": account.email,
        "roles": sorted(account.roles),
        "is_active": account.is_active,
    }
    form = ServiceAccountForm(request.POST or None, initial=initial, editing=True)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            fields = form.service_fields()
            fields.pop("username")
            done, status = attempt(
                form, lambda: tokens.service_account_update(actor=request.user, account=account, **fields)
            )
            if done is not None:
                messages.success(request, f"Service account {account.username} saved.")
                return redirect("service_account_detail", pk=account.pk)
    return render(request, "mof/accounts/service_account_form.html", {"form": form, "account": account}, status=status)


# The key itself is never stored, so never exported: its first characters recognise it.
TOKEN_EXPORT_COLUMNS = csv_io.columns(
    ("Name", "name"),
    ("Key starts", "prefix"),
    ("Scope", "get_scope_display"),
    ("Status", "status_label"),
    ("Created", "created_at"),
    ("Created by", "created_by.username"),
    ("Expires", "expires_at"),
    ("Last used", "last_used_at"),
    ("Revoked", "revoked_at"),
)


def _token_page(request, *, owner, template, extra, new_key=None, new_token=None, form=None, status=200):
    listed = tokens.token_list(user=request.user, owner=owner)
    if csv_io.export_requested(request):  # a GET only: the page answering a POST shows a new key, never exported
        return csv_io.export_csv(listed, TOKEN_EXPORT_COLUMNS, filename=f"api-tokens-{owner.username}")
    context = {
        "owner": owner,
        "tokens": listed,
        "form": form or TokenForm(),
        "rotate_form": RotateForm(),
        "new_key": new_key,
        "new_token": new_token,
        "issue_url": reverse("service_account_detail", args=[owner.pk])
        if owner.is_service_account
        else reverse("my_tokens"),
        **extra,
    }
    return render(request, template, context, status=status)


@login_required
def service_account_detail(request, pk):
    _require(request.user, "service_account.manage", message="Only administrators manage service accounts.")
    account = _account(request, pk)
    form = TokenForm(request.POST or None)
    extra = {"account": account}
    template = "mof/accounts/service_account_detail.html"
    if request.method == "POST":  # issue a token
        if form.is_valid():
            issued, status = attempt(
                form, lambda: tokens.token_issue(actor=request.user, owner=account, **form.cleaned_data)
            )
            if issued is not None:
                token, key = issued
                return _token_page(
                    request, owner=account, template=template, extra=extra, new_key=key, new_token=token, status=201
                )
        else:
            status = 400
        return _token_page(request, owner=account, template=template, extra=extra, form=form, status=status)
    return _token_page(request, owner=account, template=template, extra=extra)


# --- a person's own tokens ------------------------------------------------------------


@login_required
def my_tokens(request):
    if not policy.can(request.user, "token.issue", request.user):
        raise PermissionDenied("This account cannot hold personal tokens.")
    form = TokenForm(request.POST or None)
    template = "mof/accounts/my_tokens.html"
    if request.method == "POST":
        if form.is_valid():
            issued, status = attempt(
                form, lambda: tokens.token_issue(actor=request.user, owner=request.user, **form.cleaned_data)
            )
            if issued is not None:
                token, key = issued
                return _token_page(
                    request, owner=request.user, template=template, extra={}, new_key=key, new_token=token, status=201
                )
        else:
            status = 400
        return _token_page(request, owner=request.user, template=template, extra={}, form=form, status=status)
    return _token_page(request, owner=request.user, template=template, extra={})


# --- rotate and revoke (either kind of token) ------------------------------------------


def _token_for(request, pk):
    """The token if the reader may act on it; 404 otherwise (no probing of ids)."""
    from mof.models import ApiToken

    token = ApiToken.objects.select_related("user").filter(pk=pk).first()
    if token is None or not (
        policy.can(request.user, "token.revoke", token) or policy.can(request.user, "token.rotate", token)
    ):
        raise Http404("No such token.")
    return token


def _back(request, token):
    if token.user.is_service_account:
        return reverse("service_account_detail", args=[token.user_id])
    return reverse("my_tokens") if token.user_id == request.user.pk else reverse("service_account_list")


@login_required
@require_POST
def token_rotate(request, pk):
    token = _token_for(request, pk)
    _require(request.user, "token.rotate", token, "You may not rotate this token.")
    form = RotateForm(request.POST)
    if form.is_valid():
        rotated, _status = attempt(
            form,
            lambda: tokens.token_rotate(
                actor=request.user, token=token, grace_minutes=form.cleaned_data["grace_minutes"]
            ),
        )
        if rotated is not None:
            new, key = rotated
            if token.user.is_service_account:
                return _token_page(
                    request,
                    owner=token.user,
                    template="mof/accounts/service_account_detail.html",
                    extra={"account": tokens.service_account_get(user=request.user, pk=token.user_id)},
                    new_key=key,
                    new_token=new,
                    status=201,
                )
            return _token_page(
                request,
                owner=token.user,
                template="mof/accounts/my_tokens.html",
                extra={},
                new_key=key,
                new_token=new,
                status=201,
            )
    for error in form.errors.values():
        messages.error(request, f"Not rotated: {' '.join(error)}")
    return redirect(_back(request, token))


@login_required
@require_POST
def token_revoke(request, pk):
    token = _token_for(request, pk)
    _require(request.user, "token.revoke", token, "You may not revoke this token.")
    tokens.token_revoke(actor=request.user, token=token)
    messages.success(request, f"Token {token} revoked: it is refused from now on.")
    return redirect(_back(request, token))


# --- login lockouts ----------------------------------------------------------------------


LOCKOUT_EXPORT_COLUMNS = csv_io.columns(
    ("Kind", "get_kind_display"),
    ("Username or address", "key"),
    ("From address", "address"),
    ("Failures", "failures"),
    ("Last failure", "last_failure_at"),
    ("Locked until", lambda row: row.locked_until if row.is_locked() else None),
    ("Times locked", "times_locked"),
)


@login_required
def lockout_list(request):
    _require(request.user, "lockout.view", message="Only administrators and Security see login lockouts.")
    locked = request.GET.get("locked", "")
    error = None if locked in ("", "1") else "“Locked now only” is 1 or absent."
    locked_only = locked == "1"
    qs = lockout.lockout_list(user=request.user, locked_only=locked_only)
    if csv_io.export_requested(request) and error is None:  # a refused filter is shown, never exported as no filter
        return csv_io.export_csv(qs, LOCKOUT_EXPORT_COLUMNS, filename="login-lockouts")
    return render(
        request,
        "mof/accounts/lockout_list.html",
        {
            "page": _page(request, qs),
            "locked_only": locked_only,
            "can_clear": policy.can(request.user, "lockout.clear"),
            "error": error,
        },
        status=400 if error else 200,
    )


@login_required
@require_POST
def lockout_clear(request, pk):
    _require(request.user, "lockout.clear", message="Only administrators clear login lockouts.")
    row = lockout.lockout_list(user=request.user).filter(pk=pk).first()
    if row is None:
        raise Http404("No such lockout.")
    lockout.lockout_clear(actor=request.user, lockout=row)
    messages.success(request, f"Lockout of {row} cleared: sign-in is allowed again.")
    return redirect("lockout_list")
