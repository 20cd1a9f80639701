"""Create, change and delete a user's own text message templates."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from textdesk import errors
from textdesk.domain import templating
from textdesk.messaging.models import MessageTemplate


class TemplateInvalid(errors.InvalidInput):
    """A template that cannot be saved: ``field`` names what to correct (empty: the user may not manage templates,
    a 403)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, code="template_invalid" if field else "forbidden")
        self.field = field
        if not field:
            self.status = 403


def _clean_placeholders(body: str, placeholders: list[dict]) -> list[dict]:
    """Keep options only for placeholders the body uses; each as {name, display_name, default}."""
    used = templating.used_placeholders(body)
    given = {p.get("name"): p for p in placeholders if p.get("name")}
    out = []
    for name in used:
        p = given.get(name, {})
        out.append(
            {
                "name": name,
                "display_name": str(p.get("display_name") or "").strip()[:100],
                "default": str(p.get("default") or "").strip()[:200],
            }
        )
    return out


def _check(owner, name: str, category: str, language: str, body: str, exclude_pk: int | None) -> None:
    from django.conf import settings

    if not owner.has_perm("org.manage_own_templates"):
        raise TemplateInvalid(
            "", _("You do not have the privilege to manage templates. Ask your administrator for the Salesperson role.")
        )
    if not name.strip():
        raise TemplateInvalid("name", _("Give the template a name."))
    if category not in templating.CATALOG:
        raise TemplateInvalid("category", _("Choose a category."))
    if language not in dict(settings.LANGUAGES):
        raise TemplateInvalid("language", _("Choose a language."))
    if not body.strip():
        raise TemplateInvalid("body", _("Write the text of the template."))
    unknown = templating.unknown_placeholders(body, category)
    if unknown:
        raise TemplateInvalid(
            "body",
            _("Unknown placeholder(s) for this category: %(names)s. Insert placeholders from the list.")
            % {"names": ", ".join(f"{{{{{n}}}}}" for n in unknown)},
        )
    clash = MessageTemplate.objects.filter(owner=owner, name=name.strip())
    if exclude_pk:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        raise TemplateInvalid("name", _("You already have a template with this name."))


@transaction.atomic
def save_template(
    owner,
    *,
    template: MessageTemplate | None = None,
    name: str,
    category: str,
    language: str,
    body: str,
    placeholders: list[dict] | None = None,
) -> MessageTemplate:
    """Create (``template`` None) or change one of ``owner``'s templates. Raises TemplateInvalid."""
    if template is not None and template.owner_id != owner.pk:
        raise PermissionError("not your template")
    _check(owner, name, category, language, body, template.pk if template else None)
    obj = template or MessageTemplate(owner=owner)
    obj.name = name.strip()
    obj.category = category
    obj.language = language
    obj.body = body
    obj.placeholders = _clean_placeholders(body, placeholders or [])
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError:
        raise TemplateInvalid("name", _("You already have a template with this name.")) from None
    return obj


@transaction.atomic
def delete_template(owner, template: MessageTemplate) -> None:
    if template.owner_id != owner.pk:
        raise PermissionError("not your template")
    template.delete()
