"""Admin of the reference data: typologies, the habitat tree (navigate by parent, search by code or name),
crosswalks, taxa, characteristic species, and legends with their rules and a preview of each class."""

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from habitats import selectors
from habitats.models import (
    CharacteristicSpecies,
    Correspondence,
    HabitatUnit,
    LegendRule,
    MapClass,
    MapLegend,
    ReferenceVersion,
    RelationType,
    Taxon,
    Typology,
)
from habitats.services.legends import map_legend_touch

PREVIEW_LIMIT = 200


def unit_link(unit: HabitatUnit) -> SafeString:
    url = reverse("admin:habitats_habitatunit_change", args=[unit.pk])
    return format_html('<a href="{}">{} {}</a>', url, unit.code or f"#{unit.pk}", unit.name_fr or unit.name_en)


@admin.register(Typology)
class TypologyAdmin(admin.ModelAdmin):
    list_display = ["cd_typo", "name", "table_code", "unit_count", "browse"]
    search_fields = ["name", "table_code", "dataset_name"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Typology]:
        return super().get_queryset(request).annotate(n_units=Count("units"))

    @admin.display(description="units", ordering="n_units")
    def unit_count(self, obj: Typology) -> int:
        return obj.n_units  # type: ignore[attr-defined]

    @admin.display(description="tree")
    def browse(self, obj: Typology) -> SafeString:
        url = reverse("admin:habitats_habitatunit_changelist")
        return format_html('<a href="{}?typology__cd_typo__exact={}&parent__isnull=True">top level</a>', url, obj.pk)


class ParentFilter(admin.SimpleListFilter):
    title = "tree position"
    parameter_name = "parent__isnull"

    def lookups(self, request, model_admin):
        return [("True", "top level only")]

    def queryset(self, request, queryset):
        return queryset.filter(parent__isnull=True) if self.value() == "True" else queryset


@admin.register(HabitatUnit)
class HabitatUnitAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "typology", "level", "validity", "in_france", "children_link"]
    list_filter = ["typology", ParentFilter, "level", "validity", "in_france"]
    search_fields = ["code", "code_normalized", "name_fr", "name_en", "=cd_hab"]
    list_select_related = ["typology"]
    raw_id_fields = ["parent"]
    readonly_fields = ["breadcrumb", "children", "crosswalks", "search_text", "ref_version"]
    fieldsets = [
        (None, {"fields": ["breadcrumb", "cd_hab", "typology", "code", "code_normalized", "validity", "in_france"]}),
        ("Names", {"fields": ["name_fr", "name_fr_full", "name_en", "author", "description"]}),
        ("Tree", {"fields": ["level", "parent", "path", "children"]}),
        ("Crosswalks", {"fields": ["crosswalks"]}),
        ("Sync", {"fields": ["search_text", "ref_version"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[HabitatUnit]:
        return super().get_queryset(request).annotate(n_children=Count("children"))

    def lookup_allowed(self, lookup, value, request=None):
        # The "children ▸" links navigate the tree by parent.
        return lookup in {"parent__cd_hab__exact", "parent__cd_hab"} or super().lookup_allowed(lookup, value, request)

    def get_search_results(self, request, queryset, search_term):
        # Accent-insensitive word-prefix search, the same as the API's.
        if not search_term:
            return queryset, False
        found = selectors.habitat_unit_search(query=search_term, limit=500)
        return queryset.filter(pk__in=[u.pk for u in found]), False

    @admin.display(description="name")
    def name(self, obj: HabitatUnit) -> str:
        return (obj.name_fr or obj.name_en)[:120]

    @admin.display(description="children", ordering="n_children")
    def children_link(self, obj: HabitatUnit) -> SafeString | str:
        count = getattr(obj, "n_children", 0)
        if not count:
            return "–"
        url = reverse("admin:habitats_habitatunit_changelist")
        return format_html('<a href="{}?parent__cd_hab__exact={}">{} ▸</a>', url, obj.pk, count)

    @admin.display(description="ancestors")
    def breadcrumb(self, obj: HabitatUnit) -> SafeString:
        chain = [*selectors.habitat_unit_ancestors(unit=obj)]
        return format_html_join(" › ", "{}", ((unit_link(u),) for u in chain)) if chain else SafeString("(top level)")

    @admin.display(description="children")
    def children(self, obj: HabitatUnit) -> SafeString:
        kids = obj.children.order_by("code")[:PREVIEW_LIMIT]
        return format_html_join(SafeString("<br>"), "{}", ((unit_link(u),) for u in kids)) or SafeString("–")

    @admin.display(description="crosswalks from this unit")
    def crosswalks(self, obj: HabitatUnit) -> SafeString:
        rows = obj.correspondences_out.select_related("target__typology", "relation").order_by("target__typology_id")
        return format_html_join(
            SafeString("<br>"),
            "{} {} ({})",
            (
                (c.relation.short_label if c.relation else "?", unit_link(c.target), c.target.typology.name)
                for c in rows
            ),
        ) or SafeString("–")


@admin.register(RelationType)
class RelationTypeAdmin(admin.ModelAdmin):
    list_display = ["cd_type_rel", "short_label", "label", "between_habitats", "habitat_to_species"]
    list_filter = ["between_habitats", "habitat_to_species"]


@admin.register(Correspondence)
class CorrespondenceAdmin(admin.ModelAdmin):
    list_display = ["cd_corresp", "source", "relation", "target", "valid"]
    list_filter = ["relation", "valid", "source__typology", "target__typology"]
    search_fields = ["=source__cd_hab", "=target__cd_hab", "source__code", "target__code"]
    raw_id_fields = ["source", "target"]
    list_select_related = ["source", "target", "relation"]


@admin.register(Taxon)
class TaxonAdmin(admin.ModelAdmin):
    list_display = ["cd_nom", "full_name", "cd_ref", "rank", "family", "wetland_indicator"]
    list_filter = ["wetland_indicator", "rank"]
    search_fields = ["=cd_nom", "name", "name_normalized", "vernacular_name"]
    readonly_fields = ["accepted_name", "ref_version"]

    @admin.display(description="accepted name")
    def accepted_name(self, obj: Taxon) -> str:
        accepted = selectors.taxon_accepted(cd_nom=obj.pk)
        return str(accepted) if accepted else "(unknown)"


@admin.register(CharacteristicSpecies)
class CharacteristicSpeciesAdmin(admin.ModelAdmin):
    list_display = ["habitat_code", "habitat_name", "species_name", "kind", "value", "habitat", "taxon"]
    list_filter = ["kind", "source"]
    search_fields = ["habitat_code", "species_name", "habitat_name"]
    raw_id_fields = ["habitat", "taxon"]
    list_select_related = ["habitat", "taxon"]


class LegendTouchMixin:
    """Any admin change of a legend, class or rule is a new reference version, so tablets resync it."""

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)  # type: ignore[misc]
        legend = form.instance if isinstance(form.instance, MapLegend) else form.instance.legend
        map_legend_touch(legend=legend, source=f"admin: {legend} edited by {request.user}")


class MapClassInline(admin.TabularInline):
    model = MapClass
    extra = 0
    fields = ["value", "code", "name", "color", "rule_count", "unit_count"]
    readonly_fields = ["rule_count", "unit_count"]
    show_change_link = True

    @admin.display(description="rules")
    def rule_count(self, obj: MapClass) -> int:
        return obj.rules.count() if obj.pk else 0

    @admin.display(description="units (preview)")
    def unit_count(self, obj: MapClass) -> int | str:
        counts = getattr(self, "_unit_counts", None)
        return counts.get(obj.pk, 0) if counts is not None else "–"

    def get_formset(self, request, obj=None, **kwargs):
        if obj is not None:
            self._unit_counts = {k: len(v) for k, v in selectors.legend_units_by_class(legend=obj).items()}
        return super().get_formset(request, obj, **kwargs)


@admin.register(MapLegend)
class MapLegendAdmin(LegendTouchMixin, admin.ModelAdmin):
    list_display = ["name", "version", "is_active", "class_count", "created_at", "ref_version"]
    list_filter = ["is_active"]
    search_fields = ["name"]
    readonly_fields = ["ref_version", "created_at"]
    inlines = [MapClassInline]

    @admin.display(description="classes")
    def class_count(self, obj: MapLegend) -> int:
        return obj.classes.count()


class LegendRuleInline(admin.TabularInline):
    model = LegendRule
    extra = 1
    raw_id_fields = ["unit"]
    fields = ["unit", "include_subtree", "via_crosswalk", "priority"]


@admin.register(MapClass)
class MapClassAdmin(LegendTouchMixin, admin.ModelAdmin):
    list_display = ["legend", "value", "code", "name", "color"]
    list_filter = ["legend"]
    search_fields = ["code", "name"]
    inlines = [LegendRuleInline]
    readonly_fields = ["units_preview"]

    @admin.display(description="units in this class (most specific rule wins)")
    def units_preview(self, obj: MapClass) -> SafeString:
        if not obj.pk:
            return SafeString("–")
        cd_habs = selectors.legend_units_by_class(legend=obj.legend).get(obj.pk, [])
        units = (
            HabitatUnit.objects.filter(pk__in=cd_habs[:PREVIEW_LIMIT])
            .select_related("typology")
            .order_by("typology_id", "code")
        )
        more = f"<br>… and {len(cd_habs) - PREVIEW_LIMIT} more" if len(cd_habs) > PREVIEW_LIMIT else ""
        listed = format_html_join(SafeString("<br>"), "{} [{}]", ((unit_link(u), u.typology.name) for u in units))
        return format_html("{} unit(s)<br>{}{}", len(cd_habs), listed, SafeString(more))


@admin.register(ReferenceVersion)
class ReferenceVersionAdmin(admin.ModelAdmin):
    list_display = ["id", "created_at", "source"]
    readonly_fields = ["created_at", "source", "summary"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
