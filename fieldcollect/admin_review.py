"""The coordinators' review in Django admin: the relevé list (filters, counts, map, thumbnails), the relevé
page (map, photos, habitats, species, QC findings with waive, history, conflicts, comments, decisions),
bulk decisions, and the campaign dashboard. Every decision goes through ``fieldcollect.services.review``.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Exists, F, FloatField, Func, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import TruncWeek
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html

from fieldcollect.admin import ReleveAdmin
from fieldcollect.models import (
    Campaign,
    CampaignMember,
    HabitatAssignment,
    Photo,
    QCResult,
    QCRun,
    QCSeverity,
    Releve,
    ReleveRevision,
    ReleveStatus,
    ReviewAction,
    ReviewEvent,
    Role,
    SpeciesObservation,
    User,
)
from fieldcollect.selectors import (
    campaign_legend,
    campaign_progress_by_class,
    campaign_progress_by_stratum,
    releve_filter_stratum,
    releve_strata_options,
)
from fieldcollect.services.qc import REGISTRY
from fieldcollect.services.quality import qc_run_campaign_start
from fieldcollect.services.review import (
    ReviewError,
    qc_result_waive,
    releve_comment,
    releve_review,
    releve_review_bulk,
)
from fieldcollect.svg import STATUS_COLOURS, MapPoint, bar_chart_svg, map_svg, stacked_bar_chart_svg

MAP_LIMIT = 5000  # plots drawn on the list's map (the filtered set, most recent first)


def coordinated_campaign_ids(user: Any) -> list[int] | None:
    """Campaigns ``user`` coordinates; None means all (superusers)."""
    if user.is_superuser:
        return None
    # Kept on the request's user: the list's queryset and three of its filters ask within one request.
    cached: list[int] | None = getattr(user, "_coordinated_campaign_ids", None)
    if cached is None:
        cached = list(
            CampaignMember.objects.filter(user_id=user.pk, role=Role.COORDINATOR).values_list("campaign_id", flat=True)
        )
        user._coordinated_campaign_ids = cached
    return cached


# --- filters -------------------------------------------------------------------------------------


class QCSeverityFilter(admin.SimpleListFilter):
    title = "QC severity"
    parameter_name = "qc"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("error", "Unwaived error"),
            ("warning", "Unwaived warning"),
            ("clean", "No unwaived error or warning"),
            ("unchecked", "Not checked yet"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Releve]) -> QuerySet[Releve]:
        value = self.value()
        # On the relevé's QC state, whose open counts follow every QC run and waiver.
        if value == "error":
            return queryset.filter(qc_state__open_errors__gt=0)
        if value == "warning":
            return queryset.filter(qc_state__open_warnings__gt=0)
        if value == "clean":
            return queryset.filter(qc_state__open_errors=0, qc_state__open_warnings=0)
        if value == "unchecked":
            return queryset.filter(qc_state__isnull=True)
        return queryset


class QCRuleFilter(admin.SimpleListFilter):
    title = "QC rule"
    parameter_name = "qc_rule"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(code, code) for code in sorted(REGISTRY)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Releve]) -> QuerySet[Releve]:
        if self.value():
            return queryset.filter(
                Exists(QCResult.objects.filter(releve_id=OuterRef("pk"), rule=self.value(), waived_by__isnull=True))
            )
        return queryset


class HabitatFilter(admin.SimpleListFilter):
    title = "main habitat"
    parameter_name = "habitat"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        assignments = HabitatAssignment.objects.filter(rank=0, releve__deleted_at__isnull=True)
        campaigns = coordinated_campaign_ids(request.user)
        if campaigns is not None:  # a coordinator sees the habitats of their campaigns only
            assignments = assignments.filter(releve__campaign_id__in=campaigns)
        rows = (
            assignments.values("habitat_id", "habitat__code", "habitat__name_fr")
            .annotate(n=Count("id"))
            .order_by("-n")[:40]
        )
        return [(str(r["habitat_id"]), f"{r['habitat__code']} {r['habitat__name_fr'][:40]} ({r['n']})") for r in rows]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Releve]) -> QuerySet[Releve]:
        if self.value() and self.value().isdigit():  # type: ignore[union-attr]
            return queryset.filter(
                Exists(HabitatAssignment.objects.filter(releve_id=OuterRef("pk"), habitat_id=int(self.value())))  # type: ignore[arg-type]
            )
        return queryset


class BotanistFilter(admin.SimpleListFilter):
    title = "botanist"
    parameter_name = "observer"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        releves = Releve.objects.filter(deleted_at__isnull=True)
        campaigns = coordinated_campaign_ids(request.user)
        if campaigns is not None:  # a coordinator sees the botanists of their campaigns only
            releves = releves.filter(campaign_id__in=campaigns)
        users = User.objects.filter(pk__in=releves.order_by().values("observer_id").distinct()).order_by("username")
        return [(str(u.pk), u.get_full_name() or u.username) for u in users]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Releve]) -> QuerySet[Releve]:
        if self.value() and self.value().isdigit():  # type: ignore[union-attr]
            return queryset.filter(observer_id=int(self.value()))  # type: ignore[arg-type]
        return queryset


class StratumFilter(admin.SimpleListFilter):
    """The stratum of the relevé's sample point in its campaign's sampling plan."""

    title = "stratum"
    parameter_name = "stratum"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        campaigns = coordinated_campaign_ids(request.user)
        chosen = request.GET.get("campaign__id__exact", "")
        if chosen.isdigit() and (campaigns is None or int(chosen) in campaigns):
            campaigns = [int(chosen)]
        return [(str(pk), label) for pk, label in releve_strata_options(campaign_ids=campaigns)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Releve]) -> QuerySet[Releve]:
        value = self.value()
        if value and value.isdigit():
            return releve_filter_stratum(queryset, stratum_id=int(value))
        return queryset


class StatusCountPaginator(Paginator):
    """Counts the filtered relevés once: per status, with those that have an open QC error or warning.

    The page count is their sum; the list shows the per-status and QC figures from the same query.
    """

    @cached_property
    def status_counts(self) -> dict[str, tuple[int, int, int]]:
        rows = (
            self.object_list.order_by()  # type: ignore[attr-defined]
            .values_list("status")
            .annotate(
                n=Count("id"),
                errors=Count("id", filter=Q(qc_state__open_errors__gt=0)),
                warnings=Count("id", filter=Q(qc_state__open_warnings__gt=0)),
            )
            .order_by()
        )
        return {status: (n, errors, warnings) for status, n, errors, warnings in rows}

    @cached_property
    def count(self) -> int:
        return sum(n for n, _, _ in self.status_counts.values())


class CommentForm(forms.Form):
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), required=True)


# --- the relevé admin ----------------------------------------------------------------------------


@admin.register(Releve)
class ReleveReviewAdmin(ReleveAdmin):
    """The relevé admin of the sync module, extended into the coordinators' review tool."""

    list_display = (  # type: ignore[assignment]
        "thumbnail",
        "short_uuid",
        "observed_at",
        "observer",
        "campaign",
        "status_badge",
        "main_habitat",
        "species_count",
        "qc_badge",
        "conflict",
    )
    list_display_links = ("short_uuid",)
    list_filter = (  # type: ignore[assignment]
        "status",
        "campaign",
        BotanistFilter,
        HabitatFilter,
        QCSeverityFilter,
        QCRuleFilter,
        StratumFilter,
        "observed_at",
        "has_open_conflict",
    )
    search_fields = ("=uuid", "observer__username", "observer__last_name", "notes")  # type: ignore[assignment]
    date_hierarchy = "observed_at"
    list_per_page = 100
    # The filtered count is shown (per status); the count of every relevé would be a second scan.
    show_full_result_count = False
    actions = ["validate_selected", "request_changes_selected", "reject_selected"]
    change_list_template = "admin/fieldcollect/releve/change_list.html"
    change_form_template = "admin/fieldcollect/releve/change_form.html"
    readonly_fields = (  # type: ignore[assignment]
        "uuid",
        "campaign",
        "observer",
        "observed_at",
        "status",
        "version",
        "gnss_accuracy_m",
        "plot_area_m2",
        "altitude_m",
        "slope_deg",
        "aspect",
        "total_cover_pct",
        "notes",
        "sample_point_ref",
        "device_id",
        "app_version",
        "has_open_conflict",
        "created_at",
        "updated_at",
    )
    fields = readonly_fields
    # The review page shows habitats, species, photos and revisions as tables. Saving admin forms would
    # bypass the version counter and the change log tablets pull, so fields are read-only here: decisions
    # are review actions, never edits of fields.
    inlines = []

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Releve]:
        queryset = super().get_queryset(request).filter(deleted_at__isnull=True)
        campaigns = coordinated_campaign_ids(request.user)
        if campaigns is not None:
            queryset = queryset.filter(campaign_id__in=campaigns)
        main = HabitatAssignment.objects.filter(releve_id=OuterRef("pk")).order_by("rank")
        thumb = Photo.objects.filter(releve_id=OuterRef("pk"), blob__isnull=False).order_by("id")
        return queryset.select_related("observer", "campaign").annotate(
            main_habitat_code=Subquery(main.values("habitat__code")[:1]),
            main_habitat_name=Subquery(main.values("habitat__name_fr")[:1]),
            n_species=Subquery(
                SpeciesObservation.objects.filter(releve_id=OuterRef("pk"))
                .order_by()
                .values("releve_id")
                .annotate(n=Count("id"))
                .values("n")[:1]
            ),
            thumb_file=Subquery(thumb.values("blob__thumbnail")[:1]),
            n_errors=F("qc_state__open_errors"),
            n_warnings=F("qc_state__open_warnings"),
        )

    # columns

    @admin.display(description="")
    def thumbnail(self, obj: Any) -> str:
        if obj.thumb_file:
            from django.core.files.storage import default_storage

            return format_html(
                '<img src="{}" width="48" height="48" loading="lazy" alt="">', default_storage.url(obj.thumb_file)
            )
        return "—"

    @admin.display(description="relevé", ordering="uuid")
    def short_uuid(self, obj: Releve) -> str:
        return str(obj.uuid)[:8]

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: Releve) -> str:
        return format_html(
            '<span class="fc-status" style="background:{}">{}</span>',
            STATUS_COLOURS.get(obj.status, "#999"),
            obj.get_status_display(),
        )

    @admin.display(description="main habitat", ordering="main_habitat_code")
    def main_habitat(self, obj: Any) -> str:
        if not obj.main_habitat_code:
            return "—"
        return format_html('<span title="{}">{}</span>', obj.main_habitat_name or "", obj.main_habitat_code)

    @admin.display(description="species", ordering="n_species")
    def species_count(self, obj: Any) -> int:
        return obj.n_species or 0

    @admin.display(description="QC")
    def qc_badge(self, obj: Any) -> str:
        if obj.n_errors:
            return format_html('<span class="fc-qc fc-qc-error">{} error(s)</span>', obj.n_errors)
        if obj.n_warnings:
            return format_html('<span class="fc-qc fc-qc-warning">{} warning(s)</span>', obj.n_warnings)
        if obj.status == ReleveStatus.SUBMITTED:
            return format_html('<span class="fc-qc">{}</span>', "pending")
        return format_html('<span class="fc-qc fc-qc-ok">{}</span>', "ok")

    @admin.display(description="conflict", boolean=True, ordering="has_open_conflict")
    def conflict(self, obj: Releve) -> bool:
        return obj.has_open_conflict

    # list page: counts and map of the filtered set

    def get_paginator(
        self,
        request: HttpRequest,
        queryset: QuerySet[Releve],
        per_page: int,
        orphans: int = 0,
        allow_empty_first_page: bool = True,
    ) -> StatusCountPaginator:
        return StatusCountPaginator(queryset, per_page, orphans, allow_empty_first_page)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None)
        if not context or "cl" not in context:
            return response
        cl = context["cl"]
        filtered = cl.queryset.order_by()
        counts = cl.paginator.status_counts  # the page count's query: the list counts its relevés once
        context["status_counts"] = [
            (value, label, counts.get(value, (0, 0, 0))[0], STATUS_COLOURS[value])
            for value, label in ReleveStatus.choices
        ]
        context["qc_counts"] = {
            "with_errors": sum(n for _, n, _ in counts.values()),
            "with_warnings": sum(n for _, _, n in counts.values()),
        }
        # Coordinates as numbers straight from PostGIS: building 5,000 GEOS points is most of the map's time.
        rows = list(
            filtered.order_by("-observed_at")
            .annotate(
                map_x=Func("location", function="ST_X", output_field=FloatField()),
                map_y=Func("location", function="ST_Y", output_field=FloatField()),
            )
            .values_list("id", "map_x", "map_y", "status", "uuid")[:MAP_LIMIT]
        )
        region = None
        campaign_id = request.GET.get("campaign__id__exact")
        if campaign_id and campaign_id.isdigit():
            region = Campaign.objects.filter(pk=int(campaign_id)).values_list("region", flat=True).first()
        # Links relative to the list's URL keep the 5,000 marks short.
        context["plots_map"] = map_svg(
            points=[
                MapPoint(x, y, STATUS_COLOURS.get(status, "#999"), f"{str(uuid)[:8]} {status}", f"{pk}/change/", 2.5)
                for pk, x, y, status, uuid in rows
                if x is not None
            ],
            region=region,
            padding_m=500.0 if region is None else 0.0,
            title="Filtered plots",
        )
        context["map_truncated"] = len(rows) == MAP_LIMIT
        return response

    # bulk actions

    def _bulk(self, request: HttpRequest, queryset: QuerySet[Releve], action: str, comment: str = "") -> None:
        outcome = releve_review_bulk(
            releve_ids=list(queryset.values_list("pk", flat=True)),
            actor=request.user,  # type: ignore[arg-type]
            action=action,
            comment=comment,  # type: ignore[arg-type]
        )
        if outcome.done:
            self.message_user(
                request, f"{len(outcome.done)} relevé(s): {ReviewAction(action).label.lower()}.", messages.SUCCESS
            )
        reasons = Counter(error.message for error in outcome.refused.values())
        for message, n in reasons.items():
            self.message_user(request, f"{n} relevé(s) refused: {message}", messages.ERROR)

    @admin.action(description="Validate selected relevés")
    def validate_selected(self, request: HttpRequest, queryset: QuerySet[Releve]) -> None:
        self._bulk(request, queryset, ReviewAction.VALIDATE)

    def _with_comment(self, request: HttpRequest, queryset: QuerySet[Releve], action: str, title: str) -> Any:
        if "apply" in request.POST:
            form = CommentForm(request.POST)
            if form.is_valid():
                self._bulk(request, queryset, action, form.cleaned_data["comment"])
                return None
        else:
            form = CommentForm()
        return TemplateResponse(
            request,
            "admin/fieldcollect/releve/comment_action.html",
            {
                **self.admin_site.each_context(request),
                "title": title,
                "form": form,
                "releves": queryset,
                "action": request.POST.get("action"),
                "opts": self.model._meta,
                "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            },
        )

    @admin.action(description="Send selected relevés back for changes (comment required)")
    def request_changes_selected(self, request: HttpRequest, queryset: QuerySet[Releve]) -> Any:
        return self._with_comment(request, queryset, ReviewAction.REQUEST_CHANGES, "Send back for changes")

    @admin.action(description="Reject selected relevés (comment required)")
    def reject_selected(self, request: HttpRequest, queryset: QuerySet[Releve]) -> Any:
        return self._with_comment(request, queryset, ReviewAction.REJECT, "Reject")

    # the relevé page

    def get_urls(self) -> list[Any]:
        own = [
            path("dashboard/", self.admin_site.admin_view(self.dashboard_view), name="fieldcollect_releve_dashboard"),
            path("<int:pk>/review/", self.admin_site.admin_view(self.review_view), name="fieldcollect_releve_review"),
            path(
                "<int:pk>/waive/<int:result_id>/",
                self.admin_site.admin_view(self.waive_view),
                name="fieldcollect_releve_waive",
            ),
            path(
                "<int:pk>/comment/", self.admin_site.admin_view(self.comment_view), name="fieldcollect_releve_comment"
            ),
        ]
        return own + super().get_urls()

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        releve = self.get_object(request, object_id)
        if releve is None:
            return super().change_view(request, object_id, form_url, extra_context)
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **self._page(releve)})

    def _page(self, releve: Releve) -> dict[str, Any]:
        habitats = list(releve.habitats.select_related("habitat__typology").order_by("rank"))
        species = list(releve.species.select_related("taxon").order_by("layer", "rank"))
        photos = list(releve.photos.select_related("blob").order_by("id"))
        results = list(QCResult.objects.filter(releve=releve).select_related("waived_by").order_by("-severity", "rule"))
        severity_order = {"error": 0, "warning": 1, "info": 2}
        results.sort(key=lambda r: (severity_order.get(r.severity, 3), r.rule))
        events = list(ReviewEvent.objects.filter(releve=releve).select_related("actor").order_by("-created_at", "-id"))
        revisions = list(
            ReleveRevision.objects.filter(releve=releve).select_related("submitted_by").order_by("-received_at")[:50]
        )
        points = [MapPoint(releve.location.x, releve.location.y, "#c62828", "plot", radius=5)]
        for photo in photos:
            if photo.exif_location is not None:
                points.append(
                    MapPoint(
                        photo.exif_location.x, photo.exif_location.y, "#1e88e5", f"photo {photo.uuid}", shape="square"
                    )
                )
        extent = max(
            [50.0]
            + [abs(p.x - releve.location.x) + 20 for p in points]
            + [abs(p.y - releve.location.y) + 20 for p in points]
        )
        return {
            "releve": releve,
            "plot_map": map_svg(
                points=[
                    *points,
                    MapPoint(releve.location.x - extent, releve.location.y - extent, "none", radius=0),
                    MapPoint(releve.location.x + extent, releve.location.y + extent, "none", radius=0),
                ],
                footprint=releve.plot,
                width=360,
                height=360,
                title="Plot and photo positions",
            ),
            "habitats": habitats,
            "species": species,
            "photos": photos,
            "qc_results": results,
            "events": events,
            "revisions": revisions,
            "conflicts": [
                r for r in revisions if r.outcome == ReleveRevision.Outcome.CONFLICT and r.resolved_at is None
            ],
            "comment_form": CommentForm(),
            "rules": REGISTRY,
        }

    def _redirect(self, pk: int) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:fieldcollect_releve_change", args=[pk]))

    def _check_post(self, request: HttpRequest, pk: int) -> Releve:
        if request.method != "POST":
            raise PermissionDenied
        releve = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.has_view_permission(request, releve):
            raise PermissionDenied
        return releve

    def review_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        self._check_post(request, pk)
        version = request.POST.get("expected_version", "")
        try:
            releve_review(
                releve_id=pk,
                actor=request.user,  # type: ignore[arg-type]
                action=request.POST.get("action", ""),  # type: ignore[arg-type]
                comment=request.POST.get("comment", ""),
                expected_version=int(version) if version.isdigit() else None,
                expected_status=request.POST.get("expected_status") or None,
            )
        except ReviewError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(
                request, f"Relevé {ReviewAction(request.POST['action']).label.lower()}.", messages.SUCCESS
            )
        return self._redirect(pk)

    def waive_view(self, request: HttpRequest, pk: int, result_id: int) -> HttpResponse:
        self._check_post(request, pk)
        if not QCResult.objects.filter(pk=result_id, releve_id=pk).exists():
            self.message_user(request, "This QC finding is not on this relevé (QC ran again?).", messages.ERROR)
            return self._redirect(pk)
        try:
            qc_result_waive(result_id=result_id, actor=request.user, reason=request.POST.get("reason", ""))  # type: ignore[arg-type]
        except ReviewError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(request, "QC finding waived.", messages.SUCCESS)
        return self._redirect(pk)

    def comment_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        self._check_post(request, pk)
        try:
            releve_comment(releve_id=pk, actor=request.user, comment=request.POST.get("comment", ""))  # type: ignore[arg-type]
        except ReviewError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(request, "Comment added.", messages.SUCCESS)
        return self._redirect(pk)

    # the campaign dashboard

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        campaigns = Campaign.objects.all()
        allowed = coordinated_campaign_ids(request.user)
        if allowed is not None:
            campaigns = campaigns.filter(pk__in=allowed)
        campaign_id = request.GET.get("campaign", "")
        campaign = (
            campaigns.filter(pk=int(campaign_id)).first()
            if campaign_id.isdigit()
            else campaigns.order_by("-year").first()
        )
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": "Campaign dashboard",
            "campaigns": campaigns,
            "campaign": campaign,
            "opts": self.model._meta,
        }
        if campaign is not None:
            context.update(campaign_dashboard(campaign))
            if request.method == "POST" and "rerun_qc" in request.POST:
                if not request.user.is_superuser and campaign.pk not in (allowed or []):
                    raise PermissionDenied
                run = qc_run_campaign_start(
                    campaign=campaign,
                    requested_by=request.user,
                    reason=request.POST.get("reason", "")[:200],
                    only_stale="only_stale" in request.POST,
                )
                self.message_user(request, f"QC run {run.pk} scheduled.", messages.SUCCESS)
                return HttpResponseRedirect(request.get_full_path())
        return TemplateResponse(request, "admin/fieldcollect/dashboard.html", context)


def campaign_dashboard(campaign: Campaign) -> dict[str, Any]:
    """Figures and charts of one campaign's progress (a fixed handful of aggregate queries)."""
    releves = Releve.objects.filter(campaign=campaign, deleted_at__isnull=True).order_by()
    colours = {label: STATUS_COLOURS[value] for value, label in ReleveStatus.choices}
    labels = dict(ReleveStatus.choices)

    by_botanist: dict[str, dict[str, float]] = defaultdict(dict)
    for username, status, n in releves.values_list("observer__username", "status").annotate(n=Count("id")):
        by_botanist[username][labels[status]] = n
    by_week: dict[str, dict[str, float]] = defaultdict(dict)
    for week, status, n in (
        releves.annotate(week=TruncWeek("observed_at"))
        .values_list("week", "status")
        .annotate(n=Count("id"))
        .order_by("week")
    ):
        by_week[f"{week:%Y-%m-%d}" if isinstance(week, dt.datetime | dt.date) else str(week)][labels[status]] = n
    by_habitat = list(
        HabitatAssignment.objects.filter(releve__in=releves, rank=0)
        .values_list("habitat__code")
        .annotate(n=Count("id"))
        .order_by("-n")[:20]
    )
    by_rule = list(
        QCResult.objects.filter(releve__in=releves, waived_by__isnull=True)
        .exclude(severity=QCSeverity.INFO)
        .values_list("rule")
        .annotate(n=Count("releve_id", distinct=True))
        .order_by("-n")[:25]
    )
    totals = releves.aggregate(
        total=Count("id"),
        checked=Count("id", filter=~Q(status=ReleveStatus.SUBMITTED)),
        flagged=Count("id", filter=Q(status=ReleveStatus.QC_FLAGGED)),
        passed=Count("id", filter=Q(status=ReleveStatus.QC_PASSED)),
        validated=Count("id", filter=Q(status=ReleveStatus.VALIDATED)),
        conflicts=Count("id", filter=Q(has_open_conflict=True)),
    )
    with_open = (
        releves.filter(Q(qc_state__open_errors__gt=0) | Q(qc_state__open_warnings__gt=0)).count()
        if totals["checked"]
        else 0
    )
    strata = campaign_progress_by_stratum(campaign=campaign)
    legend = campaign_legend(campaign=campaign)
    classes = campaign_progress_by_class(campaign=campaign, legend=legend) if legend is not None else []
    recorded_classes = sorted((c for c in classes if c["releves"]), key=lambda c: -c["releves"])[:CHART_CLASSES]
    qc_checked = releves.filter(qc_state__isnull=False).count()
    pass_rate = 100.0 * (qc_checked - with_open) / qc_checked if qc_checked else None
    return {
        "totals": totals,
        "backlog": totals["flagged"] + totals["passed"],
        "qc_checked": qc_checked,
        "qc_pass_rate": pass_rate,
        "runs": list(QCRun.objects.filter(campaign=campaign).order_by("-created_at")[:5]),
        "chart_botanists": stacked_bar_chart_svg(
            sorted(by_botanist.items()), title="Relevés per botanist, by status", colours=colours
        ),
        "chart_weeks": stacked_bar_chart_svg(
            list(by_week.items()), title="Relevés per week (Monday), by status", colours=colours
        ),
        "chart_habitats": bar_chart_svg(
            [(code, n) for code, n in by_habitat], title="Main habitats (20 most recorded)", colour="#2e7d32"
        ),
        "chart_rules": bar_chart_svg(
            [(rule, n) for rule, n in by_rule],
            title="Relevés with an open QC error or warning, per rule",
            colour="#e65100",
        ),
        "strata": strata,
        "has_plan": any(row["stratum"] is not None for row in strata),
        "chart_strata": stacked_bar_chart_svg(
            [(_short(f"{row['value'] or ''} {row['label']}".strip()), _by_label(row["statuses"])) for row in strata],
            title="Relevés per stratum of the sampling plan, by status",
            colours=colours,
        ),
        "legend": legend,
        "classes": classes,
        "classes_missing": sum(1 for c in classes if c["value"] is not None and not c["releves"]),
        "chart_classes": stacked_bar_chart_svg(
            [(_short(f"{c['code']} {c['name']}".strip()), _by_label(c["statuses"])) for c in recorded_classes],
            title=f"Relevés per map class of the main habitat ({CHART_CLASSES} most recorded), by status",
            colours=colours,
        ),
    }


CHART_CLASSES = 30


def _short(label: str, limit: int = 18) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _by_label(statuses: dict[str, int]) -> dict[str, float]:
    labels = dict(ReleveStatus.choices)
    return {labels.get(status, status): n for status, n in statuses.items()}


@admin.register(QCRun)
class QCRunAdmin(admin.ModelAdmin):
    list_display = ("id", "campaign", "state", "progress", "findings", "reason", "created_at", "finished_at")
    list_filter = ("state", "campaign")
    readonly_fields = [f.name for f in QCRun._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="progress")
    def progress(self, obj: QCRun) -> str:
        return format_html(
            '<progress max="100" value="{}"></progress> {}/{}', f"{obj.progress_pct:.0f}", obj.done, obj.total
        )
