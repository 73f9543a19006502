"""Admin of the raster catalogue, feature sets, strata and sampling plans."""

from typing import Any

from django.contrib import admin
from django.contrib.gis.admin import GISModelAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from .models import (
    Feature,
    FeatureSet,
    PlanStratum,
    RasterLayer,
    SamplePoint,
    SamplePointEvent,
    SamplingPlan,
    Stratification,
    Stratum,
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
