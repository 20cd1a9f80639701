"""``field__any``: the same rows as ``field__in``, for ids and for strings, on whichever database runs the suite."""

from __future__ import annotations

import pytest
from django.utils import timezone

from textdesk.jobs.models import Job, JobState
from textdesk.messaging.models import OptOut

pytestmark = pytest.mark.django_db


def test_any_finds_what_in_finds():
    jobs = [Job.objects.create(kind="k", payload={"n": n}, run_at=timezone.now()) for n in range(5)]
    wanted = [jobs[0].pk, jobs[3].pk, jobs[4].pk, 10**12]  # one that does not exist
    assert (
        set(Job.objects.filter(pk__any=wanted))
        == set(Job.objects.filter(pk__in=wanted))
        == {
            jobs[0],
            jobs[3],
            jobs[4],
        }
    )
    assert Job.objects.filter(pk__any=wanted).update(state=JobState.DONE) == 3
    assert set(Job.objects.filter(state=JobState.DONE)) == {jobs[0], jobs[3], jobs[4]}


def test_any_over_strings():
    OptOut.objects.create(customer_e164="+15550000001", scope="*", is_opted_out=True)
    OptOut.objects.create(customer_e164="+15550000002", scope="*", is_opted_out=True)
    found = OptOut.objects.filter(customer_e164__any=["+15550000002", "+15550000009"])
    assert list(found.values_list("customer_e164", flat=True)) == ["+15550000002"]


def test_any_over_a_relation():
    from textdesk.org.models import Team, User

    first, second = Team.objects.create(name="North"), Team.objects.create(name="South")
    ana, bo = User.objects.create_user("ana-any"), User.objects.create_user("bo-any")
    first.members.add(ana)
    second.members.add(bo)
    rows = Team.members.through.objects.filter(team_id__any=[second.pk]).values_list("user_id", flat=True)
    assert list(rows) == [bo.pk]


def test_an_empty_list_matches_nothing():
    Job.objects.create(kind="k", payload={}, run_at=timezone.now())
    assert list(Job.objects.filter(pk__any=[])) == []
    assert Job.objects.filter(pk__any=[]).update(state=JobState.DONE) == 0
    assert Job.objects.filter(state=JobState.DONE).count() == 0


def test_values_of_mixed_types_are_refused():
    with pytest.raises(TypeError):
        Job.objects.filter(pk__any=[1, "2"])
