"""Admin site pages for text messaging.

Provider accounts get a form built from their adapter's credential fields: secrets are written,
encrypted, and never shown again (leave a secret empty to keep it). Records of what happened
(messages, their status history, consent, moves) are read-only here: they change only through the
product's actions.
"""

from __future__ import annotations

import json
import re

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.functional import Promise
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from textdesk.domain import phones
from textdesk.messaging.actions.providers import check_credentials, credential_fields
from textdesk.messaging.crypto import CredentialsUnreadable
from textdesk.messaging.models import (
    ConcatPartBuffer,
    ConsentEvent,
    Conversation,
    ConversationMove,
    CustomerCarrier,
    Message,
    MessageEvent,
    MessagePart,
    MessageTemplate,
    Notification,
    OptOut,
    ProviderAccount,
    SenderNumber,
    UnmatchedStatusUpdate,
)
from textdesk.providers import _callback_access

CREDENTIAL_PREFIX = "credential__"
# Who may call the account's webhook URLs (kept in the account's options; see providers/_callback_access.py).
ACCESS_FIELDS = ["allowed_sources", "trusted_proxy_header", "trusted_proxies"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """A record of what happened: viewable, never edited by hand."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


# ------------------------------------------------------------------ provider accounts


class ProviderAccountForm(forms.ModelForm):
    """Shows the credential fields of the chosen provider; secrets are write-only."""

    credentials_json = forms.CharField(
        label=_("credentials (JSON)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            'No form is known for this provider: enter its credentials as JSON, e.g. {"api_key": "…"}. '
            "Stored values are never shown; leave empty to keep them."
        ),
    )

    allowed_sources = forms.CharField(
        label=_("callers allowed (source addresses)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_(
            "Optional. Addresses or networks (one per line, e.g. 35.155.139.143 or 10.0.0.0/8) that may call this "
            "account's webhook URLs; any other caller is refused. Empty: any address may call."
        ),
    )
    trusted_proxy_header = forms.CharField(
        label=_("header with the caller's address"),
        required=False,
        help_text=_(
            "Only behind a reverse proxy: the header it writes with the caller's address, e.g. X-Forwarded-For. "
            "Read only on requests from the trusted proxies below."
        ),
    )
    trusted_proxies = forms.CharField(
        label=_("trusted proxies"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Addresses of your reverse proxies, one per line. Empty: only this machine (127.0.0.1, ::1)."),
    )

    class Meta:
        model = ProviderAccount
        fields = ("kind", "name", "description", "options", "is_active")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.kind = self._chosen_kind()
        self.fields["kind"].widget.attrs["data-reload-on-change"] = "kind"
        self._initial_access()
        stored = self._stored_credentials()
        self.credential_spec = credential_fields(self.kind) if self.kind else None
        if self.credential_spec is None:
            return
        del self.fields["credentials_json"]
        editing = bool(self.instance.pk) and self.instance.kind == self.kind
        for spec in self.credential_spec:
            has_value = editing and bool(stored.get(spec.name))
            help_parts = [str(spec.help)] if spec.help else []
            widget: forms.Widget
            if spec.secret:
                widget = forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})
                if has_value:
                    help_parts.append(str(_("A value is stored (not shown). Leave empty to keep it.")))
            else:
                widget = forms.TextInput()
            self.fields[CREDENTIAL_PREFIX + spec.name] = forms.CharField(
                label=spec.label,
                required=spec.required and not has_value,
                widget=widget,
                initial=None if spec.secret else stored.get(spec.name, ""),
                help_text=" ".join(help_parts),
            )

    def _initial_access(self) -> None:
        options = (self.instance.options or {}) if self.instance.pk else {}
        sources = options.get("allowed_sources")
        if sources is None and not self.instance.pk:
            sources = published_sources(self.kind)  # a provider that publishes its addresses: offered, editable
        proxies = options.get("trusted_proxies") or []
        self.fields["allowed_sources"].initial = "\n".join(sources or [])
        self.fields["trusted_proxy_header"].initial = options.get("trusted_proxy_header", "")
        self.fields["trusted_proxies"].initial = "\n".join(proxies)

    def _clean_access(self, cleaned: dict) -> None:
        """Move the access fields into the account's options (an empty field removes its option)."""
        options = dict(cleaned.get("options") or {})
        for name in ("allowed_sources", "trusted_proxies"):
            try:
                networks = _callback_access.parse_networks(cleaned.get(name) or "")
            except ValueError as exc:
                self.add_error(name, _("Not an address or network: %(error)s") % {"error": exc})
                continue
            if networks:
                options[name] = [str(n) if n.num_addresses > 1 else str(n.network_address) for n in networks]
            else:
                options.pop(name, None)
        header = (cleaned.get("trusted_proxy_header") or "").strip()
        if header and not re.fullmatch(r"[A-Za-z0-9-]+", header):
            self.add_error("trusted_proxy_header", _("Enter a header name, e.g. X-Forwarded-For."))
        elif header:
            options["trusted_proxy_header"] = header
        else:
            options.pop("trusted_proxy_header", None)
        cleaned["options"] = options

    def _chosen_kind(self) -> str:
        if self.is_bound:
            return self.data.get(self.add_prefix("kind"), "") or ""
        return self.initial.get("kind") or self.instance.kind or ""

    def _stored_credentials(self) -> dict:
        if not self.instance.pk:
            return {}
        try:
            return self.instance.credentials
        except CredentialsUnreadable:
            return {}

    def clean(self):
        cleaned = super().clean()
        self._clean_access(cleaned)
        kind = cleaned.get("kind")
        if not kind:
            return cleaned
        keep = self._stored_credentials() if self.instance.pk and self.instance.kind == kind else {}
        if self.credential_spec is None:
            raw = (cleaned.get("credentials_json") or "").strip()
            if raw:
                try:
                    given = json.loads(raw)
                except ValueError as exc:
                    raise ValidationError(
                        {"credentials_json": _("Not valid JSON: %(error)s") % {"error": exc}}
                    ) from exc
                if not isinstance(given, dict):
                    raise ValidationError({"credentials_json": _("Enter a JSON object of names and values.")})
            else:
                given = {}
        else:
            given = {
                name.removeprefix(CREDENTIAL_PREFIX): value
                for name, value in cleaned.items()
                if name.startswith(CREDENTIAL_PREFIX) and value
            }
        try:
            self.new_credentials = check_credentials(kind, {**keep, **given}, complete=True)
        except ValidationError as exc:
            raise ValidationError(exc.message_dict.get("credentials", exc.messages)) from exc
        return cleaned

    def save(self, commit=True):
        self.instance.credentials = self.new_credentials
        return super().save(commit=commit)


@admin.register(ProviderAccount)
class ProviderAccountAdmin(admin.ModelAdmin):
    form = ProviderAccountForm
    list_display = ("name", "kind", "is_active", "number_count", "created_at")
    list_filter = ("kind", "is_active")
    search_fields = ("name", "description")
    readonly_fields = ("callback_protection_display", "inbound_url_display", "status_url_display")

    class Media:
        js = ("web/admin_provider_kind.js",)

    model_fields = ["kind", "name", "description", "options", "is_active"]

    def get_fields(self, request, obj=None):
        fields = [*self.model_fields, *self._credential_field_names(request, obj), *ACCESS_FIELDS]
        if obj is not None:
            fields += ["callback_protection_display", "inbound_url_display", "status_url_display"]
        return fields

    def _credential_field_names(self, request, obj) -> list[str]:
        """Must name exactly the fields ProviderAccountForm builds for the same request."""
        if request.method == "POST":
            kind = request.POST.get("kind", "")
        else:
            kind = obj.kind if obj is not None else request.GET.get("kind", "")
        spec = credential_fields(kind) if kind else None
        if spec is None:
            return ["credentials_json"]
        return [CREDENTIAL_PREFIX + f.name for f in spec]

    def get_form(self, request, obj=None, change=False, **kwargs):
        # The credential fields are added by the form itself, for the chosen kind.
        kwargs["fields"] = self.model_fields
        return super().get_form(request, obj, change=change, **kwargs)

    @admin.display(description=_("number of sender numbers"))
    def number_count(self, obj: ProviderAccount) -> int:
        return obj.numbers.count()

    def _url_cell(self, url: str, what: str | Promise):
        return format_html(
            '<code style="user-select:all">{}</code><br><span class="help">{}</span>',
            url,
            _("Copy this URL into the provider's console as the %(what)s webhook (click selects it all).")
            % {"what": what},
        )

    @admin.display(description=_("what protects the callback URLs"))
    def callback_protection_display(self, obj: ProviderAccount):
        return format_html("<p>{}</p>", callback_protection(obj))

    @admin.display(description=_("inbound messages URL"))
    def inbound_url_display(self, obj: ProviderAccount):
        return self._url_cell(obj.inbound_url, _("inbound message"))

    @admin.display(description=_("delivery status URL"))
    def status_url_display(self, obj: ProviderAccount):
        return self._url_cell(obj.status_url, _("status callback"))


def published_sources(kind: str) -> list[str]:
    """The addresses a provider documents as the ones it calls from (Vibes), or []."""
    from textdesk.providers import vibes

    if kind == vibes.PROVIDER.kind:
        return [address for region in vibes.PUBLISHED_SOURCES.values() for address in region]
    return []


def callback_protection(account: ProviderAccount) -> str:
    """A plain statement of what makes the account's webhooks trustworthy."""
    from textdesk.providers.registry import get_provider

    try:
        provider = get_provider(account.kind)
    except (ImportError, ValueError):
        return str(_("Unknown provider: nothing checks its callbacks beyond the key in the URL."))
    options = account.options or {}
    try:
        credentials = account.credentials
    except CredentialsUnreadable:
        credentials = {}
    name = getattr(provider, "display_name", account.kind)
    sources = options.get("allowed_sources") or []
    guard: str | Promise
    if sources:
        guard = _("only calls from %(count)s allowed address(es) are accepted") % {"count": len(sources)}
    else:
        guard = _("calls from any address are accepted (no allowed source addresses set)")
    basic = credentials.get("webhook_username") or credentials.get("webhook_password")
    if getattr(provider, "signs_webhooks", True):
        return str(
            _("%(name)s signs every callback and TextDesk checks the signature; also, %(guard)s.")
            % {"name": name, "guard": guard}
        )
    parts = [
        _("%(name)s does not sign its callbacks.") % {"name": name},
        _("What protects these URLs: the unguessable key in each URL (keep them secret)"),
    ]
    if basic:
        parts.append(_("the Basic credentials set above, required on every call"))
    parts.append(guard)
    return f"{parts[0]} {'; '.join(str(p) for p in parts[1:])}."


# ------------------------------------------------------------------ sender numbers


class SenderNumberForm(forms.ModelForm):
    class Meta:
        model = SenderNumber
        fields = (
            "e164",
            "name",
            "number_type",
            "provider_account",
            "owner_user",
            "owner_team",
            "rate_per_second",
            "is_active",
        )

    def clean_e164(self) -> str:
        value = (self.cleaned_data.get("e164") or "").strip()
        if not phones.is_e164(value):
            raise ValidationError(
                _(
                    "Enter the number in E.164 form: a plus sign, the country code and the number, without spaces "
                    "or punctuation (e.g. +5511912345678)."
                )
            )
        return value

    def clean(self):
        cleaned = super().clean()
        if bool(cleaned.get("owner_user")) == bool(cleaned.get("owner_team")):
            raise ValidationError(_("Choose exactly one owner: a user or a team."))
        return cleaned


@admin.register(SenderNumber)
class SenderNumberAdmin(admin.ModelAdmin):
    form = SenderNumberForm
    list_display = ("name", "e164", "number_type", "provider_account", "owner_display", "is_active")
    list_filter = ("number_type", "provider_account", "is_active", "owner_team")
    search_fields = ("name", "e164")
    autocomplete_fields = ["owner_user", "owner_team", "provider_account"]
    list_select_related = ("provider_account", "owner_user", "owner_team")

    @admin.display(description=_("owner"))
    def owner_display(self, obj: SenderNumber) -> str:
        return str(obj.owner or "—")


# ------------------------------------------------------------------ conversations and messages


class MessageEventInline(admin.TabularInline):
    model = MessageEvent
    extra = 0
    can_delete = False
    fields = ("at", "status", "provider_status", "provider_code", "detail", "applied")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class MessagePartInline(admin.TabularInline):
    model = MessagePart
    fk_name = "message"
    extra = 0
    can_delete = False
    fields = ("number", "provider_message_id", "status", "provider_status")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "direction",
        "from_number",
        "to_number",
        "status",
        "failure_reason",
        "provider_account",
    )
    list_filter = ("direction", "status", "provider_account")
    search_fields = ("from_number", "to_number", "provider_message_id", "body")
    date_hierarchy = "created_at"
    inlines = [MessagePartInline, MessageEventInline]
    list_select_related = ("provider_account",)


@admin.register(MessageEvent)
class MessageEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "message", "status", "provider_status", "provider_code", "applied")
    list_filter = ("status", "applied")
    search_fields = ("message__provider_message_id", "provider_code")


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    list_display = ("record_key", "customer_e164", "sender_number", "last_message_at", "last_status", "unread_count")
    list_filter = ("record_type", "sender_number")
    search_fields = ("customer_e164", "record_key")


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "category", "language", "modified_at")
    list_filter = ("category", "language")
    search_fields = ("name", "body", "owner__username")
    autocomplete_fields = ["owner"]


@admin.register(OptOut)
class OptOutAdmin(ReadOnlyAdmin):
    list_display = ("customer_e164", "scope", "is_opted_out", "source", "updated_at")
    list_filter = ("is_opted_out",)
    search_fields = ("customer_e164", "scope")


@admin.register(ConsentEvent)
class ConsentEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "customer_e164", "scope", "action", "source")
    list_filter = ("action",)
    search_fields = ("customer_e164",)


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "user", "kind", "title", "read_at")
    list_filter = ("kind",)
    search_fields = ("user__username", "title")


@admin.register(ConversationMove)
class ConversationMoveAdmin(ReadOnlyAdmin):
    list_display = ("at", "conversation", "from_record_key", "to_record_key", "moved_by")


@admin.register(UnmatchedStatusUpdate)
class UnmatchedStatusUpdateAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "provider_account", "provider_message_id")
    search_fields = ("provider_message_id",)


@admin.register(MessagePart)
class MessagePartAdmin(ReadOnlyAdmin):
    list_display = ("message", "number", "provider_account", "provider_message_id", "status")
    list_filter = ("status",)
    search_fields = ("provider_message_id",)


@admin.register(ConcatPartBuffer)
class ConcatPartBufferAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "provider_account", "from_number", "reference", "number", "total")


@admin.register(CustomerCarrier)
class CustomerCarrierAdmin(ReadOnlyAdmin):
    list_display = ("customer_number", "carrier", "provider_account", "updated_at")
    search_fields = ("customer_number",)
