"""Admin of the raster catalogue, feature sets, strata, sampling plans, training sets, models and map runs."""

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib import admin
from django.contrib.gis.admin import GISModelAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from .models import (
    AccuracyAssessment,
    ExportJob,
    Feature,
    FeatureSet,
    MapRun,
    PlanStratum,
    RasterLayer,
    SamplePoint,
    SamplePointEvent,
    SamplingPlan,
    Stratification,
    Stratum,
    TrainedModel,
    TrainingSample,
    TrainingSet,
)
from .services.sampling import sample_point_assign


@admin.register(RasterLayer)
class RasterLayerAdmin(GISModelAdmin):
    list_display = ["name", "kind", "date", "band_count", "dtype", "resolution_x", "source_epsg", "is_synthetic"]
    list_filter = ["kind", "is_synthetic", "is_categorical"]
    search_fields = ["name", "uri"]
    readonly_fields = [f.name for f in RasterLayer._meta.fields if f.name not in ("description",)]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # layers are registered by `manage.py register_raster`, which checks the file


class FeatureInline(admin.TabularInline):
    model = Feature
    extra = 0
    readonly_fields = ["position", "name", "derivation", "inputs", "resampling"]
    can_delete = False


@admin.register(FeatureSet)
class FeatureSetAdmin(admin.ModelAdmin):
    list_display = ["name", "resolution", "created_at"]
    inlines = [FeatureInline]


class StratumInline(admin.TabularInline):
    model = Stratum
    extra = 0
    fields = ["value", "label", "pixel_count", "area_m2", "std_dev", "expected_accuracy"]
    readonly_fields = ["value", "pixel_count", "area_m2"]


@admin.register(Stratification)
class StratificationAdmin(admin.ModelAdmin):
    list_display = ["name", "campaign", "source", "resolution"]
    inlines = [StratumInline]


class PlanStratumInline(admin.TabularInline):
    model = PlanStratum
    extra = 0
    readonly_fields = ["stratum", "eligible_pixel_count", "eligible_area_m2", "allocated", "generated"]
    can_delete = False


@admin.register(SamplingPlan)
class SamplingPlanAdmin(admin.ModelAdmin):
    list_display = ["name", "campaign", "status", "allocation", "total_size", "min_distance_m", "seed"]
    list_filter = ["status", "allocation"]
    readonly_fields = ["parameters", "exclusions", "seed", "created_by", "created_at"]
    inlines = [PlanStratumInline]


@admin.register(SamplePoint)
class SamplePointAdmin(GISModelAdmin):
    list_display = ["__str__", "stratum", "assignee", "state", "inclusion_probability", "batch"]
    list_filter = ["plan", "state", "assignee"]
    list_select_related = ["plan", "stratum", "assignee"]
    readonly_fields = ["plan", "stratum", "number", "location", "inclusion_probability", "batch", "state", "reason"]
    fields = ["plan", "number", "stratum", "location", "inclusion_probability", "batch", "assignee", "state", "reason"]
    actions = ["unassign"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # points are drawn by sampling_plan_create, never typed in

    def save_model(self, request: HttpRequest, obj: SamplePoint, form: Any, change: bool) -> None:
        # Assignment by hand goes through the service: audited, and the point reaches the tablets.
        if "assignee" in form.changed_data:
            sample_point_assign(actor=request.user, points=[obj.pk], assignee=obj.assignee)  # type: ignore[arg-type]

    @admin.action(description="Unassign selected points")
    def unassign(self, request: HttpRequest, queryset: QuerySet[SamplePoint]) -> None:
        pks = list(queryset.values_list("pk", flat=True))
        count = sample_point_assign(actor=request.user, points=pks, assignee=None)  # type: ignore[arg-type]
        self.message_user(request, f"{count} point(s) unassigned.")


@admin.register(SamplePointEvent)
class SamplePointEventAdmin(admin.ModelAdmin):
    list_display = ["point", "action", "actor", "from_user", "to_user", "state", "at"]
    list_filter = ["action"]
    readonly_fields = ["point", "actor", "action", "from_user", "to_user", "state", "reason", "at"]


@admin.register(ExportJob)
class ExportJobAdmin(admin.ModelAdmin):
    """Export jobs requested through the API, read-only: their state (a JobStatus), file and errors."""

    list_display = ["uuid", "subject", "format", "state", "requested_by", "size", "created_at", "finished_at"]
    list_filter = ["state", "subject", "format"]
    list_select_related = ["requested_by"]
    search_fields = ["uuid", "requested_by__username"]
    readonly_fields = [f.name for f in ExportJob._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # requested through the export API (checked selection, permission, Celery job)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- Training sets, trained models and map runs ------------------------------------------------------


def _png_data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def confusion_heatmap_png(confusion: list[list[int]], labels: list[str], *, cell: int = 22) -> bytes:
    """A heat map of a confusion matrix (rows reference, columns predicted), shaded by row share."""
    from PIL import Image, ImageDraw

    cm = np.asarray(confusion, dtype=np.float64)
    n = cm.shape[0]
    margin = 8 * max((len(s) for s in labels), default=1) + 10
    img = Image.new("RGB", (margin + n * cell + 2, margin + n * cell + 2), "white")
    draw = ImageDraw.Draw(img)
    share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    for i in range(n):
        draw.text((2, margin + i * cell + 5), labels[i], fill="black")
        draw.text((margin + i * cell + 3, 2), labels[i][:3], fill="black")
        for j in range(n):
            level = int(255 - 200 * share[i, j])
            colour = (level, level, 255) if i == j else (255, level, level)
            x0, y0 = margin + j * cell, margin + i * cell
            draw.rectangle([x0, y0, x0 + cell - 1, y0 + cell - 1], fill=colour, outline=(220, 220, 220))
            if cm[i, j]:
                draw.text((x0 + 2, y0 + 5), str(int(cm[i, j])), fill="black")
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


@admin.register(TrainingSample)
class TrainingSampleAdmin(admin.ModelAdmin):
    """The live pool, read-only: it follows the validations (classification.services.pool)."""

    list_display = ["releve", "legend", "feature_set", "status", "label", "dominant_share", "reason", "n_pixels"]
    list_filter = ["status", "reason", "legend", "feature_set"]
    search_fields = ["releve__uuid"]
    raw_id_fields = ["releve"]
    readonly_fields = [f.name for f in TrainingSample._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(TrainingSet)
class TrainingSetAdmin(admin.ModelAdmin):
    list_display = ["name", "feature_set", "legend", "n_samples", "n_plots", "short_hash", "created_at"]
    readonly_fields = [f.name for f in TrainingSet._meta.fields] + ["class_balance"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # frozen by the training_set_freeze service only

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="hash")
    def short_hash(self, obj: TrainingSet) -> str:
        return obj.content_hash[:12]

    @admin.display(description="class balance")
    def class_balance(self, obj: TrainingSet) -> str:
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (value, c["samples"], c["plots"])
                for value, c in sorted(obj.class_counts.items(), key=lambda kv: int(kv[0]))
            ),
        )
        return format_html("<table><tr><th>class</th><th>samples</th><th>plots</th></tr>{}</table>", rows)


@admin.register(TrainedModel)
class TrainedModelAdmin(admin.ModelAdmin):
    list_display = [
        "id", "training_set", "algorithm", "status", "random_oa", "spatial_oa", "cpu_seconds", "energy_kwh",
        "model_size_bytes", "created_at",
    ]  # fmt: skip
    list_filter = ["status", "algorithm"]
    readonly_fields = [
        "training_set", "algorithm", "params", "n_folds", "block_size_m", "block_size_estimated", "seed", "status",
        "progress", "error_code", "message", "accuracy_and_cost", "per_class", "confusion_matrix", "importance_chart",
        "artifact", "artifact_sha256", "created_by", "created_at", "started_at", "finished_at",
    ]  # fmt: skip
    exclude = ["cv_random", "cv_spatial", "importances", "classes", "feature_names"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # trained through trained_model_train (a Celery task)

    @admin.display(description="random-CV OA")
    def random_oa(self, obj: TrainedModel) -> str:
        oa = obj.cv_random.get("overall_accuracy")
        return f"{oa:.3f}" if oa is not None else "–"

    @admin.display(description="spatial-CV OA")
    def spatial_oa(self, obj: TrainedModel) -> str:
        oa = obj.cv_spatial.get("overall_accuracy")
        return f"{oa:.3f}" if oa is not None else "–"

    @admin.display(description="accuracy and cost")
    def accuracy_and_cost(self, obj: TrainedModel) -> str:
        if not obj.cv_spatial:
            return "–"
        rnd, spa = obj.cv_random, obj.cv_spatial
        per_point = (obj.energy_kwh or 0) / max(spa["overall_accuracy"] * 100, 1e-9)
        return format_html(
            "<table><tr><th></th><th>random CV</th><th>spatial CV</th></tr>"
            "<tr><td>overall accuracy</td><td>{}</td><td>{}</td></tr>"
            "<tr><td>mean kappa</td><td>{}</td><td>{}</td></tr></table>"
            "<p>Final fit {} s; total {} CPU-s, peak {} MiB, model {} MiB, {} kWh at {} W/core; "
            "{} kWh per point of spatial OA.</p>",
            f"{rnd['overall_accuracy']:.3f}", f"{spa['overall_accuracy']:.3f}",
            f"{rnd['mean_kappa']:.3f}", f"{spa['mean_kappa']:.3f}",
            f"{obj.fit_seconds or 0:.1f}", f"{obj.cpu_seconds or 0:.1f}", f"{(obj.peak_rss_bytes or 0) / 2**20:.0f}",
            f"{(obj.model_size_bytes or 0) / 2**20:.1f}", f"{obj.energy_kwh or 0:.6f}", obj.watts_per_core,
            f"{per_point:.2e}",
        )  # fmt: skip

    @admin.display(description="per class (spatial CV, pooled)")
    def per_class(self, obj: TrainedModel) -> str:
        if not obj.cv_spatial:
            return "–"
        cm = np.asarray(obj.cv_spatial["pooled_confusion"], dtype=np.float64)
        labels = obj.cv_spatial["labels"]
        tp = np.diag(cm)
        producers = tp / np.maximum(cm.sum(axis=1), 1)
        users = tp / np.maximum(cm.sum(axis=0), 1)
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((lab, int(cm[i].sum()), f"{producers[i]:.3f}", f"{users[i]:.3f}") for i, lab in enumerate(labels)),
        )  # fmt: skip
        return format_html(
            "<table><tr><th>class</th><th>reference samples</th><th>producer's</th><th>user's</th></tr>{}</table>", rows
        )

    @admin.display(description="confusion matrix (spatial CV; rows reference, columns predicted)")
    def confusion_matrix(self, obj: TrainedModel) -> str:
        if not obj.cv_spatial:
            return "–"
        png = confusion_heatmap_png(obj.cv_spatial["pooled_confusion"], obj.cv_spatial["labels"])
        return format_html('<img src="{}" alt="confusion matrix">', _png_data_uri(png))

    @admin.display(description="feature importances")
    def importance_chart(self, obj: TrainedModel) -> str:
        if not obj.importances:
            return "–"
        top = max(obj.importances.values()) or 1.0
        rows = format_html_join(
            "",
            '<tr><td>{}</td><td><div style="background:#4a7;height:10px;width:{}px"></div></td><td>{}</td></tr>',
            (
                (name, int(300 * v / top), f"{v:.3f}")
                for name, v in sorted(obj.importances.items(), key=lambda kv: -kv[1])
            ),
        )
        return format_html("<table>{}</table>", rows)


@admin.register(MapRun)
class MapRunAdmin(admin.ModelAdmin):
    list_display = ["name", "model", "status", "progress", "cpu_hours", "energy_kwh", "created_at"]
    list_filter = ["status"]
    readonly_fields = [
        "model", "name", "grid", "tile_size", "min_mapping_unit_px", "threads_per_worker", "status", "error_code",
        "message", "tiles_total", "progress", "cost", "preview", "assessments", "classes_cog", "confidence_cog",
        "campaign", "created_by", "created_at", "started_at", "finished_at",
    ]  # fmt: skip
    exclude = ["area", "cpu_seconds", "peak_rss_bytes", "preview_png"]
    actions = ["resume"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # started through map_run_start

    @admin.display(description="progress")
    def progress(self, obj: MapRun) -> str:
        from classification.services.mapping import map_run_progress

        p = map_run_progress(obj)
        eta = f", ETA {p['eta_s'] / 60:.1f} min" if p["eta_s"] is not None else ""
        return f"{p['done']}/{p['total']} tiles ({100 * p['fraction']:.0f} %){eta}"

    @admin.display(description="CPU-hours")
    def cpu_hours(self, obj: MapRun) -> str:
        return f"{obj.cpu_seconds / 3600:.4f}"

    @admin.display(description="cost")
    def cost(self, obj: MapRun) -> str:
        return (
            f"{obj.cpu_seconds / 3600:.4f} CPU-hours, peak {obj.peak_rss_bytes / 2**20:.0f} MiB per worker, "
            f"{obj.energy_kwh:.6f} kWh"
        )

    @admin.display(description="preview")
    def preview(self, obj: MapRun) -> str:
        if not obj.preview_png:
            return "–"
        path = Path(settings.MEDIA_ROOT) / obj.preview_png
        if not path.is_file():
            return "(preview file missing)"
        return format_html('<img src="{}" style="max-width:800px" alt="map preview">', _png_data_uri(path.read_bytes()))

    @admin.display(description="accuracy assessments")
    def assessments(self, obj: MapRun) -> str:
        rows = [
            (reverse("admin:classification_accuracyassessment_change", args=[a.pk]), a.sampling_plan.name,
             _estimate_text(a.report["overall_accuracy"]), a.n_used, a.n_points)
            for a in obj.accuracy_assessments.select_related("sampling_plan")
        ]  # fmt: skip
        if not rows:
            return "– (run `manage.py accuracy_report --map-run ID --plan ID` or POST /api/v1/accuracy-assessments/)"
        return format_html_join("", '<div><a href="{}">{}</a>: overall accuracy {} ({} of {} points)</div>', rows)

    @admin.action(description="Resume (redo the tiles that did not finish)")
    def resume(self, request: HttpRequest, queryset: QuerySet[MapRun]) -> None:
        from classification.services.mapping import MappingServiceError, map_run_resume

        for run in queryset:
            try:
                queued = map_run_resume(run=run)
            except MappingServiceError as exc:
                self.message_user(request, f"{run}: {exc.message}", level="warning")
            else:
                self.message_user(request, f"{run}: {queued} tile(s) queued")


def _number(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _estimate_text(e: dict[str, float | None], digits: int = 3) -> str:
    """ "0.851 ± 0.034 [0.817, 0.885]": the estimate, ±1.96 SE, and the 95 % interval."""
    if e["estimate"] is None:
        return "–"
    half = None if e["se"] is None else 1.96 * e["se"]
    return f"{_number(e['estimate'], digits)} ± {_number(half, digits)} [{_number(e['ci_low'], digits)}, " \
        f"{_number(e['ci_high'], digits)}]"  # fmt: skip


@admin.register(AccuracyAssessment)
class AccuracyAssessmentAdmin(admin.ModelAdmin):
    """Read-only: assessments are computed by accuracy_assessment_run (command or API)."""

    list_display = ["id", "map_run", "sampling_plan", "method", "overall_accuracy", "n_used", "n_points", "created_at"]
    list_filter = ["method"]
    list_select_related = ["map_run", "sampling_plan"]
    fields = readonly_fields = (
        "map_run", "sampling_plan", "method", "overall_accuracy", "n_points", "n_used", "unused_points",
        "error_matrix", "estimates", "notes", "created_by", "created_at",
    )  # fmt: skip

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="overall accuracy (95 % CI)")
    def overall_accuracy(self, obj: AccuracyAssessment) -> str:
        return _estimate_text(obj.report["overall_accuracy"])

    @admin.display(description="error matrix (sample counts; rows map, columns reference)")
    def error_matrix(self, obj: AccuracyAssessment) -> str:
        names = obj.report["classes"]
        counts = obj.report["error_matrix"]["sample_counts"]
        header = format_html_join("", "<th>{}</th>", ((n,) for n in names))
        body = format_html_join(
            "",
            "<tr><th>{}</th>{}<td><b>{}</b></td></tr>",
            (
                (name, format_html_join("", "<td>{}</td>", ((c,) for c in row)), sum(row))
                for name, row in zip(names, counts, strict=True)
            ),
        )
        totals = format_html_join("", "<td><b>{}</b></td>", ((sum(col),) for col in zip(*counts, strict=True)))
        return format_html(
            '<table class="error-matrix"><tr><th>map \\ reference</th>{}<th>total</th></tr>{}'
            "<tr><th>total</th>{}<td><b>{}</b></td></tr></table>",
            header, body, totals, sum(map(sum, counts)),
        )  # fmt: skip

    @admin.display(description="estimates (± 1.96 SE, 95 % CI; areas in ha)")
    def estimates(self, obj: AccuracyAssessment) -> str:
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (c["class"], c["sample_count"], _number(c["mapped_area"], 1), _estimate_text(c["users_accuracy"]),
                 _estimate_text(c["producers_accuracy"]), _estimate_text(c["area"], 1))
                for c in obj.report["per_class"]
            ),
        )  # fmt: skip
        return format_html(
            "<table><tr><th>class</th><th>sample units mapped as</th><th>mapped area</th><th>user's accuracy</th>"
            "<th>producer's accuracy</th><th>estimated area</th></tr>{}</table>",
            rows,
        )

    @admin.display(description="unused points")
    def unused_points(self, obj: AccuracyAssessment) -> str:
        if not obj.exclusions:
            return "none"
        counts = ", ".join(f"{n} {reason}" for reason, n in sorted(obj.exclusion_counts.items()))
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((e["point"], e["stratum"], e["reason"], e["message"]) for e in obj.exclusions[:200]),
        )
        more = f" (first 200 of {len(obj.exclusions)})" if len(obj.exclusions) > 200 else ""
        return format_html(
            "<p>{}{}</p><table><tr><th>point</th><th>stratum</th><th>reason</th><th>message</th></tr>{}</table>",
            counts, more, rows,
        )  # fmt: skip

    @admin.display(description="notes")
    def notes(self, obj: AccuracyAssessment) -> str:
        return "; ".join(obj.report.get("notes", [])) or "–"
