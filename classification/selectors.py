"""Reads of the classification app: sample points for a botanist's tablet, plan progress, accuracy assessments."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Count, Q, QuerySet

from classification.models import AccuracyAssessment, SamplePoint, SamplePointEvent, SamplingPlan, VisitState
from fieldcollect.models import User


def sample_point_list_for_user(user: User, *, since: dt.datetime | None = None) -> QuerySet[SamplePoint]:
    """Points assigned to ``user`` in active plans, changed after ``since`` (all when None), oldest change first.

    Hook for the tablet pull: a point's ``updated_at`` moves on every assignment or visit change. Points
    taken away from the user are listed by ``sample_point_unassigned_for_user`` (the pull's tombstones).
    """
    points = SamplePoint.objects.filter(assignee=user, plan__status=SamplingPlan.Status.ACTIVE)
    if since is not None:
        points = points.filter(updated_at__gt=since)
    return points.select_related("plan", "stratum").order_by("updated_at", "pk")


def sample_point_unassigned_for_user(user: User, *, since: dt.datetime | None = None) -> list[int]:
    """Ids of points taken away from ``user`` (reassigned or unassigned) after ``since`` and not given back."""
    events = SamplePointEvent.objects.filter(from_user=user)
    if since is not None:
        events = events.filter(at__gt=since)
    ids = set(events.values_list("point_id", flat=True))
    still_theirs = set(SamplePoint.objects.filter(pk__in=ids, assignee=user).values_list("pk", flat=True))
    return sorted(ids - still_theirs)


def sampling_plan_progress(plan: SamplingPlan) -> dict[str, Any]:
    """Visit counts per stratum and per botanist (for the dashboard), with the allocated targets."""
    states = {s: Count("id", filter=Q(state=s)) for s in VisitState.values}
    per_stratum: dict[int, dict[str, Any]] = {
        row["stratum__value"]: dict(row)
        for row in plan.points.values("stratum__value", "stratum__label").annotate(total=Count("id"), **states)
    }
    strata = []
    for ps in plan.plan_strata.select_related("stratum").order_by("stratum__value"):
        row: dict[str, Any] = per_stratum.get(ps.stratum.value, {})
        visited: int = row.get(VisitState.VISITED, 0)
        strata.append(
            {
                "value": ps.stratum.value,
                "label": ps.stratum.label,
                "allocated": ps.allocated,
                "points": row.get("total", 0),
                **{s: row.get(s, 0) for s in VisitState.values},
                "completion": visited / ps.allocated if ps.allocated else None,
            }
        )
    botanists = []
    rows = plan.points.values("assignee__username").annotate(total=Count("id"), **states)
    for b in rows.order_by("assignee__username"):
        counts: dict[str, Any] = {**b}
        botanists.append(
            {
                "username": counts["assignee__username"] or "",
                **{s: counts[s] for s in VisitState.values},
                "points": counts["total"],
            }
        )
    return {"plan": plan.pk, "strata": strata, "botanists": botanists}


def accuracy_may_assess(user: User, *, campaign_id: int | None = None) -> bool:
    """Modellers (and superusers) assess any map; coordinators of a campaign assess with its plans."""
    from fieldcollect.models import CampaignMember, Role

    if user.is_superuser or user.has_role(Role.MODELLER):
        return True
    members = CampaignMember.objects.filter(user=user, role__in=[Role.COORDINATOR, Role.MODELLER])
    if campaign_id is not None:
        members = members.filter(campaign_id=campaign_id)
    return members.exists()


def accuracy_assessment_list_for_user(user: User) -> QuerySet[AccuracyAssessment]:
    """The assessments ``user`` may read: all for modellers, those of their campaigns' plans for coordinators."""
    from fieldcollect.models import CampaignMember, Role

    assessments = AccuracyAssessment.objects.select_related("map_run", "sampling_plan__campaign")
    if user.is_superuser or user.has_role(Role.MODELLER):
        return assessments
    campaigns = CampaignMember.objects.filter(user=user, role__in=[Role.COORDINATOR, Role.MODELLER]).values(
        "campaign_id"
    )
    return assessments.filter(sampling_plan__campaign_id__in=campaigns)


def accuracy_assessment_summary(assessment: AccuracyAssessment) -> dict[str, Any]:
    """The headline of an assessment: what was assessed, how, with how many points, the overall accuracy."""
    return {
        "id": assessment.pk,
        "map_run": assessment.map_run_id,
        "plan": assessment.sampling_plan_id,
        "campaign": assessment.sampling_plan.campaign.slug,
        "method": assessment.method,
        "n_points": assessment.n_points,
        "n_used": assessment.n_used,
        "exclusion_counts": assessment.exclusion_counts,
        "overall_accuracy": assessment.report["overall_accuracy"],
        "area_unit": assessment.area_unit,
        "created_at": assessment.created_at.isoformat(),
    }


def accuracy_assessment_detail(assessment: AccuracyAssessment) -> dict[str, Any]:
    """Everything stored: the summary, the classes, the full report and each unused point with its reason."""
    return {
        **accuracy_assessment_summary(assessment),
        "classes": assessment.classes,
        "report": assessment.report,
        "exclusions": assessment.exclusions,
    }
