from rest_framework import serializers

from habitats.models import (
    CharacteristicSpecies,
    Correspondence,
    HabitatUnit,
    LegendRule,
    MapClass,
    MapLegend,
    RelationType,
    Taxon,
    Typology,
)


class TypologySerializer(serializers.ModelSerializer):
    class Meta:
        model = Typology
        fields = ["cd_typo", "name", "table_code", "dataset_name", "ref_version"]


class RelationTypeSerializer(serializers.ModelSerializer):
    class Meta:
        model = RelationType
        fields = ["cd_type_rel", "short_label", "label", "definition", "between_habitats", "habitat_to_species"]


class HabitatUnitSerializer(serializers.ModelSerializer):
    class Meta:
        model = HabitatUnit
        fields = [
            "cd_hab",
            "typology",
            "code",
            "code_normalized",
            "name_fr",
            "name_fr_full",
            "name_en",
            "author",
            "level",
            "parent",
            "path",
            "validity",
            "in_france",
            "ref_version",
        ]


class HabitatUnitDetailSerializer(HabitatUnitSerializer):
    class Meta(HabitatUnitSerializer.Meta):
        fields = [*HabitatUnitSerializer.Meta.fields, "description"]


class CrosswalkTargetSerializer(serializers.Serializer):
    unit = HabitatUnitSerializer()
    relation = serializers.CharField(allow_null=True, help_text="HABREF relation label: =, <, >, #, … or null.")
    relation_id = serializers.IntegerField(allow_null=True)
    direction = serializers.ChoiceField(choices=["forward", "reverse"])


class CorrespondenceSerializer(serializers.ModelSerializer):
    relation_label = serializers.CharField(source="relation.short_label", default=None, read_only=True)

    class Meta:
        model = Correspondence
        fields = ["cd_corresp", "source", "target", "relation", "relation_label", "condition", "valid"]


class TaxonSerializer(serializers.ModelSerializer):
    is_accepted = serializers.BooleanField(read_only=True)

    class Meta:
        model = Taxon
        fields = [
            "cd_nom",
            "cd_ref",
            "is_accepted",
            "name",
            "author",
            "full_name",
            "rank",
            "family",
            "vernacular_name",
            "wetland_indicator",
        ]


class CharacteristicSpeciesSerializer(serializers.ModelSerializer):
    class Meta:
        model = CharacteristicSpecies
        fields = ["id", "habitat", "habitat_code", "habitat_name", "taxon", "species_name", "kind", "value", "source"]


class LegendRuleSerializer(serializers.ModelSerializer):
    unit_code = serializers.CharField(source="unit.code", read_only=True)
    typology = serializers.IntegerField(source="unit.typology_id", read_only=True)

    class Meta:
        model = LegendRule
        fields = ["unit", "unit_code", "typology", "include_subtree", "via_crosswalk", "priority"]


class MapClassSerializer(serializers.ModelSerializer):
    rules = LegendRuleSerializer(many=True, read_only=True)

    class Meta:
        model = MapClass
        fields = ["id", "value", "code", "name", "color", "description", "rules"]


class MapLegendSerializer(serializers.ModelSerializer):
    classes = MapClassSerializer(many=True, read_only=True)

    class Meta:
        model = MapLegend
        fields = ["id", "name", "version", "description", "is_active", "created_at", "classes"]
