"""Reference data: habitat typologies (HABREF), crosswalks, taxa (TAXREF), characteristic species,
and the map legend that turns habitat units into the classes the model predicts."""

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import models
from django.db.models.functions import Upper


class ReferenceVersion(models.Model):
    """A monotonically increasing version of the reference data; tablets sync incrementally from it.

    Every importer run that changes something records one row; reference rows carry the version that
    last changed them (``ref_version``), so "what changed since version N" is a simple filter.
    """

    created_at = models.DateTimeField(auto_now_add=True)
    source = models.CharField(max_length=200, help_text="What produced this version (importer and file).")
    summary = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"reference v{self.pk} ({self.source})"


class Typology(models.Model):
    """A habitat typology of HABREF's TYPOREF (EUNIS 2022, CORINE Biotopes, PVF2…), keyed by CD_TYPO."""

    cd_typo = models.PositiveIntegerField(primary_key=True)
    table_code = models.CharField(max_length=100, blank=True, help_text="CD_TABLE, e.g. TYPO_EUNIS_2012.")
    name = models.CharField(max_length=200, help_text="LB_NOM_TYPO, e.g. EUNIS_2012.")
    dataset_name = models.CharField(max_length=500, blank=True)
    description = models.TextField(blank=True)
    ref_version = models.PositiveIntegerField(default=0, db_index=True)

    class Meta:
        ordering = ["cd_typo"]
        verbose_name_plural = "typologies"

    def __str__(self) -> str:
        return f"{self.name} ({self.cd_typo})"


class HabitatUnit(models.Model):
    """One unit of a typology (HABREF CD_HAB), in a tree by ``parent`` with a materialised ``path``."""

    class Validity(models.TextChoices):
        REFERENCE = "NR", "Reference name"
        SYNONYM = "SYN", "Synonym"
        DELETED = "SUPPR", "Deleted"
        ERROR = "ERR", "Error"

    cd_hab = models.PositiveIntegerField(primary_key=True)
    typology = models.ForeignKey(Typology, on_delete=models.PROTECT, related_name="units")
    code = models.CharField(max_length=50, help_text="LB_CODE as written by HABREF, e.g. T2-1 or 41.71.")
    code_normalized = models.CharField(
        max_length=50, db_index=True, help_text="Upper case, dashes and spaces removed: T2-1 → T21."
    )
    name_fr = models.TextField(blank=True)
    name_fr_full = models.TextField(blank=True)
    name_en = models.TextField(blank=True)
    author = models.TextField(blank=True)
    level = models.PositiveSmallIntegerField(null=True, blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    path = models.CharField(
        max_length=500, db_index=True, help_text="Materialised path of CD_HAB ancestors, e.g. /49240/51228/51589/."
    )
    validity = models.CharField(max_length=10, choices=Validity.choices, default=Validity.REFERENCE)
    in_france = models.BooleanField(null=True)
    description = models.TextField(blank=True)
    search_text = models.TextField(blank=True, help_text="Unaccented lower-case code and names, for prefix search.")
    ref_version = models.PositiveIntegerField(default=0, db_index=True)

    class Meta:
        ordering = ["typology_id", "code"]
        indexes = [
            models.Index(fields=["typology", "code_normalized"], name="habitatunit_typo_code"),
            models.Index(OpClass(Upper("code"), name="varchar_pattern_ops"), name="habitatunit_code_prefix"),
            models.Index(OpClass("path", name="varchar_pattern_ops"), name="habitatunit_path_prefix"),
            GinIndex(OpClass("search_text", name="gin_trgm_ops"), name="habitatunit_search_trgm"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name_fr or self.name_en}".strip()


class RelationType(models.Model):
    """HABREF_TYPE_REL: =, <, >, #, … between habitats, and the species relations (diagnostic…)."""

    cd_type_rel = models.PositiveIntegerField(primary_key=True)
    short_label = models.CharField(max_length=100, help_text="LB_TYPE_REL, e.g. '=' or 'Esp. const.'.")
    label = models.CharField(max_length=300, blank=True)
    definition = models.TextField(blank=True)
    between_habitats = models.BooleanField(default=False)
    habitat_to_species = models.BooleanField(default=False)
    ref_version = models.PositiveIntegerField(default=0, db_index=True)

    def __str__(self) -> str:
        return f"{self.short_label} ({self.cd_type_rel})"


class Correspondence(models.Model):
    """A crosswalk row of HABREF_CORRESP_HAB: source unit → target unit, with a relation type."""

    cd_corresp = models.PositiveIntegerField(primary_key=True)
    source = models.ForeignKey(HabitatUnit, on_delete=models.CASCADE, related_name="correspondences_out")
    target = models.ForeignKey(HabitatUnit, on_delete=models.CASCADE, related_name="correspondences_in")
    relation = models.ForeignKey(RelationType, null=True, blank=True, on_delete=models.PROTECT)
    condition = models.TextField(blank=True)
    remarks = models.TextField(blank=True)
    valid = models.BooleanField(default=True)
    ref_version = models.PositiveIntegerField(default=0, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["source", "target"], name="correspondence_src_tgt")]

    def __str__(self) -> str:
        return f"{self.source_id} {self.relation.short_label if self.relation else '?'} {self.target_id}"


class Taxon(models.Model):
    """A TAXREF name (CD_NOM); synonyms point to their accepted name through ``cd_ref``."""

    cd_nom = models.PositiveIntegerField(primary_key=True)
    cd_ref = models.PositiveIntegerField(db_index=True, help_text="CD_NOM of the accepted name.")
    name = models.CharField(max_length=300, help_text="Scientific name without author (LB_NOM).")
    author = models.CharField(max_length=300, blank=True)
    full_name = models.CharField(max_length=500, help_text="Name with author (NOM_COMPLET).")
    name_normalized = models.CharField(max_length=300, db_index=True, help_text="Unaccented, lower case, no author.")
    rank = models.CharField(max_length=10, blank=True)
    family = models.CharField(max_length=100, blank=True)
    vernacular_name = models.CharField(max_length=500, blank=True)
    wetland_indicator = models.BooleanField(null=True)
    ref_version = models.PositiveIntegerField(default=0, db_index=True)

    class Meta:
        verbose_name_plural = "taxa"
        indexes = [
            models.Index(OpClass("name_normalized", name="varchar_pattern_ops"), name="taxon_name_prefix"),
        ]

    def __str__(self) -> str:
        return self.full_name or self.name

    @property
    def is_accepted(self) -> bool:
        return self.cd_nom == self.cd_ref


class CharacteristicSpecies(models.Model):
    """A species characteristic of a habitat (EUNIS-ESy lists): diagnostic (phi), constant or dominant."""

    class Kind(models.TextChoices):
        DIAGNOSTIC = "diagnostic", "Diagnostic"
        CONSTANT = "constant", "Constant"
        DOMINANT = "dominant", "Dominant"

    habitat = models.ForeignKey(
        HabitatUnit, null=True, blank=True, on_delete=models.CASCADE, related_name="characteristic_species"
    )
    habitat_code = models.CharField(max_length=20, db_index=True, help_text="Normalised EUNIS code, e.g. T21.")
    habitat_name = models.CharField(max_length=300, blank=True)
    taxon = models.ForeignKey(Taxon, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    species_name = models.CharField(max_length=300, help_text="Name as in the source list (no author).")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    value = models.FloatField(help_text="phi x 100 (diagnostic), frequency % (constant) or cover % (dominant).")
    source = models.CharField(max_length=100, default="EUNIS-ESy 2021-06-01")
    ref_version = models.PositiveIntegerField(default=0, db_index=True)

    class Meta:
        verbose_name_plural = "characteristic species"
        constraints = [
            models.UniqueConstraint(
                fields=["source", "habitat_code", "species_name", "kind"], name="unique_characteristic_species"
            )
        ]

    def __str__(self) -> str:
        return f"{self.habitat_code}: {self.species_name} ({self.kind} {self.value})"


class MapLegend(models.Model):
    """A versioned set of map classes; exactly one legend version is active for training and mapping."""

    name = models.CharField(max_length=200)
    version = models.PositiveIntegerField(default=1)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    ref_version = models.PositiveIntegerField(default=0, db_index=True)

    class Meta:
        ordering = ["name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="unique_legend_version"),
            models.UniqueConstraint(
                fields=["name"], condition=models.Q(is_active=True), name="one_active_legend_per_name"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class MapClass(models.Model):
    """One class of a legend; ``value`` is the pixel value written in class rasters (1…65535)."""

    legend = models.ForeignKey(MapLegend, on_delete=models.CASCADE, related_name="classes")
    value = models.PositiveIntegerField()
    code = models.CharField(max_length=50)
    name = models.CharField(max_length=200)
    color = models.CharField(max_length=7, default="#808080", help_text="#rrggbb, used in map colour tables.")
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["legend", "value"]
        verbose_name_plural = "map classes"
        constraints = [
            models.UniqueConstraint(fields=["legend", "value"], name="unique_class_value"),
            models.UniqueConstraint(fields=["legend", "code"], name="unique_class_code"),
            models.CheckConstraint(condition=models.Q(value__gte=1, value__lte=65535), name="class_value_uint16"),
        ]

    def __str__(self) -> str:
        return f"{self.value} {self.name}"


class LegendRule(models.Model):
    """Maps a habitat unit (and optionally its subtree, and units crosswalked to it) to a map class.

    When several rules match a unit, the most specific one wins: the deepest matched unit, then the
    lowest ``priority`` number.
    """

    map_class = models.ForeignKey(MapClass, on_delete=models.CASCADE, related_name="rules")
    unit = models.ForeignKey(HabitatUnit, on_delete=models.PROTECT, related_name="legend_rules")
    include_subtree = models.BooleanField(default=True)
    via_crosswalk = models.BooleanField(
        default=False, help_text="Also match units of other typologies whose crosswalk is '=' or '<' to this unit."
    )
    priority = models.PositiveSmallIntegerField(default=100)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["map_class", "unit"], name="unique_legend_rule")]

    def __str__(self) -> str:
        return f"{self.unit} → {self.map_class}"
