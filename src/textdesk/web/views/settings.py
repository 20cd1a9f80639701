"""Personal settings: interface language and my text message templates."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from textdesk.crm.models import RecordType
from textdesk.domain import templating
from textdesk.messaging.actions.templates import TemplateInvalid, delete_template, save_template
from textdesk.messaging.models import MessageTemplate
from textdesk.org.actions.profile import set_language


@login_required
@require_POST
def language(request):
    code = request.POST.get("language", "")
    try:
        set_language(request.user, code)
    except ValueError:
        return HttpResponseBadRequest(_("Unknown language."))
    translation.activate(code or translation.get_language_from_request(request))
    nxt = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(nxt, {request.get_host()}):
        nxt = "/"
    return redirect(nxt)


def _placeholders_from_post(post) -> list[dict]:
    names = post.getlist("ph_name")
    displays = post.getlist("ph_display")
    defaults = post.getlist("ph_default")
    return [{"name": n, "display_name": d, "default": v} for n, d, v in zip(names, displays, defaults, strict=False)]


def _form_context(request, template=None, data=None, error=None):
    data = data or {}
    category = data.get("category") or (template.category if template else RecordType.CONTACT)
    placeholders = data.get("placeholders")
    if placeholders is None:
        placeholders = list(template.placeholders) if template else []
    return {
        "template": template,
        "error": error,
        "values": {
            "name": data.get("name", template.name if template else ""),
            "category": category,
            "language": data.get("language", template.language if template else (request.LANGUAGE_CODE or "en")),
            "body": data.get("body", template.body if template else ""),
        },
        "placeholders": placeholders,
        "catalog": templating.placeholders_for(category),
        "categories": RecordType.choices,
        "languages": settings.LANGUAGES,
        "can_manage": request.user.has_perm("org.manage_own_templates"),
    }


@login_required
def template_list(request):
    items = MessageTemplate.objects.filter(owner=request.user).order_by("name")
    return render(
        request,
        "web/templates_list.html",
        {
            "items": items,
            "can_manage": request.user.has_perm("org.manage_own_templates"),
        },
    )


@login_required
def template_edit(request, template_id: int | None = None):
    template = get_object_or_404(MessageTemplate, pk=template_id, owner=request.user) if template_id else None
    if request.method == "POST":
        data = {k: request.POST.get(k, "") for k in ("name", "category", "language", "body")}
        data["placeholders"] = _placeholders_from_post(request.POST)
        try:
            saved = save_template(
                request.user,
                template=template,
                name=data["name"],
                category=data["category"],
                language=data["language"],
                body=data["body"],
                placeholders=data["placeholders"],
            )
        except TemplateInvalid as invalid:
            return render(
                request,
                "web/template_form.html",
                _form_context(request, template, data, {"field": invalid.field, "message": invalid.message}),
                status=invalid.status,
            )
        messages.success(request, _("Template “%(name)s” saved.") % {"name": saved.name})
        back = request.POST.get("next") or ""
        if back and url_has_allowed_host_and_scheme(back, {request.get_host()}):
            return redirect(back)
        return redirect("template_list")
    initial = {}
    if template is None and request.GET.get("category") in RecordType.values:
        initial["category"] = request.GET["category"]
    ctx = _form_context(request, template, initial)
    ctx["next"] = request.GET.get("next", "")
    return render(request, "web/template_form.html", ctx)


@login_required
def template_placeholders(request):
    """The placeholder picker for a category (swapped in when the category changes)."""
    category = request.GET.get("category", "")
    return render(request, "web/partials/placeholder_picker.html", {"catalog": templating.placeholders_for(category)})


@login_required
@require_POST
def template_delete(request, template_id: int):
    template = get_object_or_404(MessageTemplate, pk=template_id, owner=request.user)
    delete_template(request.user, template)
    messages.success(request, _("Template deleted."))
    return redirect("template_list")
