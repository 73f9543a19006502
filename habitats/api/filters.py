import django_filters

from habitats.models import CharacteristicSpecies, Correspondence, HabitatUnit, Taxon


class HabitatUnitFilter(django_filters.FilterSet):
    code = django_filters.CharFilter(
        field_name="code_normalized", method="filter_code", label="exact code (T2-1 ≡ T21)"
    )

    class Meta:
        model = HabitatUnit
        fields = ["typology", "level", "parent", "validity", "in_france"]

    def filter_code(self, queryset, name, value):
        return queryset.filter(code_normalized="".join(value.split()).replace("-", "").upper())


class TaxonFilter(django_filters.FilterSet):
    accepted = django_filters.BooleanFilter(method="filter_accepted")

    class Meta:
        model = Taxon
        fields = ["cd_ref", "rank", "family", "wetland_indicator"]

    def filter_accepted(self, queryset, name, value):
        from django.db.models import F

        return queryset.filter(cd_nom=F("cd_ref")) if value else queryset.exclude(cd_nom=F("cd_ref"))


class CorrespondenceFilter(django_filters.FilterSet):
    source_typology = django_filters.NumberFilter(field_name="source__typology")
    target_typology = django_filters.NumberFilter(field_name="target__typology")

    class Meta:
        model = Correspondence
        fields = ["source", "target", "relation", "valid"]


class CharacteristicSpeciesFilter(django_filters.FilterSet):
    class Meta:
        model = CharacteristicSpecies
        fields = ["habitat", "habitat_code", "taxon", "kind", "source"]
