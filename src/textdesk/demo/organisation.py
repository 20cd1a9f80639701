"""The demo organisation: people, teams, records, a provider account on the simulator, numbers.

Idempotent: every object is looked up by a natural key before it is created,
so running it again changes nothing.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.contrib.auth.models import Group
from django.db import transaction

from textdesk.crm.models import Account, Contact, Lead, Opportunity
from textdesk.org import roles
from textdesk.org.models import Team, User

DEMO_PASSWORD = "textdesk"
DEMO_USERS = [
    # username, first, last, role, is_staff
    ("admin", "Ada", "Admin", roles.SYSTEM_ADMINISTRATOR, True),
    ("manager", "Marta", "Manager", roles.SALES_MANAGER, False),
    ("seller", "Sam", "Seller", roles.SALESPERSON, False),
    ("seller2", "Rui", "Rocha", roles.SALESPERSON, False),
]
SIMULATOR_ACCOUNT_SID = "AC" + "d3" * 16


@dataclass
class DemoLogins:
    users: list[tuple[str, str, str]]


def _user(username, first, last, role, staff) -> User:
    user, created = User.objects.get_or_create(
        username=username,
        defaults={
            "first_name": first,
            "last_name": last,
            "is_staff": staff,
            "is_superuser": role == roles.SYSTEM_ADMINISTRATOR,
            "email": f"{username}@demo.textdesk.invalid",
        },
    )
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save()
        user.groups.add(Group.objects.get(name=role))
    return user


@transaction.atomic
def seed_demo(simulator_url: str = "http://127.0.0.1:8025") -> DemoLogins:
    from textdesk.messaging.models import ProviderAccount, SenderNumber

    users = {u[0]: _user(*u) for u in DEMO_USERS}
    team, _ = Team.objects.get_or_create(name="Inside Sales")
    team.members.add(users["seller"], users["manager"])
    team_br, _ = Team.objects.get_or_create(name="Brazil Desk")
    team_br.members.add(users["seller2"])

    seller, seller2 = users["seller"], users["seller2"]
    acme, _ = Account.objects.get_or_create(
        external_id="demo-acct-1",
        defaults=dict(
            name="Acme Logistics",
            business_phone="+1 415 555 0100",
            country="US",
            owner_user=seller,
            city="San Francisco",
        ),
    )
    tropico, _ = Account.objects.get_or_create(
        external_id="demo-acct-2",
        defaults=dict(
            name="Trópico Alimentos",
            business_phone="(11) 3456-7890",
            country="BR",
            owner_team=team_br,
            city="São Paulo",
        ),
    )
    alice, _ = Contact.objects.get_or_create(
        external_id="demo-contact-1",
        defaults=dict(
            first_name="Alice",
            last_name="Moreno",
            account=acme,
            mobile_phone="+1 415 555 0134",
            business_phone="+1 415 555 0100",
            owner_user=seller,
            job_title="Purchasing Manager",
        ),
    )
    bruno, _ = Contact.objects.get_or_create(
        external_id="demo-contact-2",
        defaults=dict(
            first_name="Bruno",
            last_name="Costa",
            account=tropico,
            mobile_phone="(11) 91234-5678",
            owner_user=seller2,
            country="BR",
        ),
    )
    Contact.objects.get_or_create(
        external_id="demo-contact-3",
        defaults=dict(
            first_name="Chen",
            last_name="Wei",
            mobile_phone="415 555",
            owner_user=seller,
            job_title="Number typed without enough digits (shown as invalid)",
        ),
    )
    opp, created = Opportunity.objects.get_or_create(
        external_id="demo-opp-1",
        defaults=dict(name="Acme fleet renewal 2027", account=acme, owner_user=seller, estimated_value=48000),
    )
    if created:
        opp.contacts.add(alice)
    Lead.objects.get_or_create(
        external_id="demo-lead-1",
        defaults=dict(
            first_name="Dana",
            last_name="Silva",
            company_name="Silva Transportes",
            topic="Asked for a quote",
            mobile_phone="+1 415 555 0177",
            owner_user=seller,
        ),
    )

    provider = ProviderAccount.objects.filter(name="Demo carrier (simulator)").first()
    if provider is None:
        provider = ProviderAccount(
            kind="twilio",
            name="Demo carrier (simulator)",
            description="The built-in SMS simulator, speaking Twilio's wire format.",
            options={"base_url": simulator_url},
        )
        provider.credentials = {"account_sid": SIMULATOR_ACCOUNT_SID, "auth_token": secrets.token_hex(16)}
        provider.save()
    elif (provider.options or {}).get("base_url") != simulator_url:
        # The simulator moved (another TEXTDESK_SIMULATOR_PORT): the demo carrier follows it.
        provider.options = {**(provider.options or {}), "base_url": simulator_url}
        provider.save(update_fields=["options"])
    SenderNumber.objects.get_or_create(
        e164="+14155550001", defaults=dict(name="Sam's line", provider_account=provider, owner_user=seller)
    )
    SenderNumber.objects.get_or_create(
        e164="+14155550002", defaults=dict(name="Inside Sales line", provider_account=provider, owner_team=team)
    )
    SenderNumber.objects.get_or_create(
        e164="+5511955550003", defaults=dict(name="Brazil Desk line", provider_account=provider, owner_team=team_br)
    )
    _demo_templates(seller)
    from textdesk.demo.sequences import seed_sequences_demo

    seed_sequences_demo()
    from textdesk.demo.conversations import seed_demo_conversations

    seed_demo_conversations()
    return DemoLogins(users=[(u[0], DEMO_PASSWORD, u[3]) for u in DEMO_USERS])


DEMO_TEMPLATES = [
    # name, category, language, body, placeholder options
    (
        "Quote follow-up",
        "contact",
        "en",
        "Hi {{ContactFirstName}}, this is {{UserFirstName}}. The quote for {{AccountName}} is ready. "
        "Shall I send it over today?",
        [{"name": "ContactFirstName", "display_name": "First name", "default": "there"}],
    ),
    (
        "Olá",
        "contact",
        "pt-br",
        "Olá {{ContactFirstName}}, aqui é {{UserFirstName}}. Podemos conversar hoje?",
        [{"name": "ContactFirstName", "display_name": "", "default": "tudo bem"}],
    ),
    (
        "Renewal reminder",
        "opportunity",
        "en",
        "Hello from {{UserFullName}}: a quick reminder about {{OpportunityName}}. Does this week still work?",
        [],
    ),
    (
        "Thanks for asking",
        "lead",
        "en",
        "Thanks for your interest, {{LeadFirstName}}! When is a good time to call you?",
        [{"name": "LeadFirstName", "display_name": "", "default": "there"}],
    ),
    ("Account check-in", "account", "en", "Hello {{AccountName}} team, {{UserFirstName}} here. Any news?", []),
]


def _demo_templates(owner: User) -> None:
    """A few text message templates for the demo seller (one per category, one in Portuguese)."""
    from textdesk.messaging.models import MessageTemplate

    for name, category, language, body, placeholders in DEMO_TEMPLATES:
        MessageTemplate.objects.get_or_create(
            owner=owner,
            name=name,
            defaults=dict(category=category, language=language, body=body, placeholders=placeholders),
        )
