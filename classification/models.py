"""Classification models: the raster catalogue, feature sets, strata and field sampling plans.

Rasters are files (local paths or GDAL-readable URLs); only their metadata lives here. Every raster is
read on the EPSG:2154 grid: either it is in EPSG:2154, or it was registered with an explicit
reprojection choice (a whitelisted EPSG code and a resampling method).
"""

from django.conf import settings
from django.contrib.gis.db import models

LAMBERT93 = 2154


class RasterKind(models.TextChoices):
    S2_BAND = "s2_band", "Sentinel-2 bands"
    S2_INDEX = "s2_index", "Sentinel-2 index"
    VHR_BAND = "vhr_band", "Very-high-resolution bands"
    DEM = "dem", "Digital elevation model"
    SLOPE = "slope", "Slope"
    ASPECT = "aspect", "Aspect"
    GEOLOGY = "geology", "Geology"
    CLIMATE = "climate", "Climate"
    SOIL = "soil", "Soil"
    HABITAT_MAP = "habitat_map", "Habitat map"
    STRATA = "strata", "Strata"
    MASK = "mask", "Mask"
    OTHER = "other", "Other"


class Resampling(models.TextChoices):
    NEAREST = "nearest", "Nearest neighbour (categorical rasters)"
    BILINEAR = "bilinear", "Bilinear"
    CUBIC = "cubic", "Cubic"
    AVERAGE = "average", "Average"
    MODE = "mode", "Mode (categorical rasters)"


class RasterLayer(models.Model):
    """One GeoTIFF/COG file in the catalogue, with the metadata read from it at registration."""

    name = models.SlugField(max_length=200, unique=True)
    uri = models.CharField(max_length=1000, help_text="Local path or GDAL-readable URL (/vsicurl/…).")
    kind = models.CharField(max_length=20, choices=RasterKind.choices)
    date = models.DateField(null=True, blank=True, help_text="Acquisition date (Sentinel-2, VHR).")
    band_count = models.PositiveSmallIntegerField()
    band_names = models.JSONField(default=list, help_text="One name per band, e.g. ['B02', 'B03', …].")
    dtype = models.CharField(max_length=20)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    source_epsg = models.PositiveIntegerField(help_text="EPSG code of the file's own CRS.")
    resampling = models.CharField(
        max_length=20,
        choices=Resampling.choices,
        blank=True,
        help_text="How the file is reprojected to EPSG:2154; empty when the file is already in EPSG:2154.",
    )
    resolution_x = models.FloatField(help_text="Pixel width in the file's CRS units.")
    resolution_y = models.FloatField(help_text="Pixel height in the file's CRS units.")
    transform = models.JSONField(help_text="Affine geotransform (a, b, c, d, e, f) in the file's CRS.")
    extent = models.PolygonField(srid=LAMBERT93, help_text="Footprint in Lambert-93.")
    nodata = models.FloatField(null=True, blank=True)
    is_categorical = models.BooleanField(default=False)
    is_synthetic = models.BooleanField(default=False, help_text="Generated data (demo, tests, benchmarks).")
    description = models.TextField(blank=True)
    registered_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "date", "name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(source_epsg=LAMBERT93) | ~models.Q(resampling=""),
                name="raster_layer_reprojection_explicit",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name}{' (SYNTHETIC)' if self.is_synthetic else ''}"


class FeatureSet(models.Model):
    """An ordered list of named features on one EPSG:2154 grid; what a training set and a model used."""

    name = models.SlugField(max_length=200, unique=True)
    resolution = models.FloatField(default=10.0, help_text="Pixel size in metres of the common grid.")
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class FeatureDerivation(models.TextChoices):
    BAND = "band", "Band of a layer"
    NDVI = "ndvi", "NDVI (nir, red)"
    NDWI = "ndwi", "NDWI (green, nir)"
    NDMI = "ndmi", "NDMI (nir, swir1)"
    SLOPE = "slope", "Slope in degrees (from a DEM)"
    ASPECT = "aspect", "Aspect in degrees from north (from a DEM)"


class Feature(models.Model):
    """One named feature of a feature set: a band of a layer, or an index derived from layer bands."""

    feature_set = models.ForeignKey(FeatureSet, on_delete=models.CASCADE, related_name="features")
    position = models.PositiveSmallIntegerField(help_text="0-based order in the feature vector.")
    name = models.CharField(max_length=100)
    derivation = models.CharField(max_length=10, choices=FeatureDerivation.choices, default=FeatureDerivation.BAND)
    inputs = models.JSONField(
        help_text="Input bands as [[layer id, 1-based band], …]: one for 'band', slope and aspect; two or more "
        "for indices, in the order named by the derivation."
    )
    resampling = models.CharField(max_length=20, choices=Resampling.choices, default=Resampling.BILINEAR)

    class Meta:
        ordering = ["feature_set", "position"]
        constraints = [
            models.UniqueConstraint(fields=["feature_set", "position"], name="unique_feature_position"),
            models.UniqueConstraint(fields=["feature_set", "name"], name="unique_feature_name"),
        ]

    def __str__(self) -> str:
        return f"{self.feature_set}[{self.position}] {self.name}"


class Stratification(models.Model):
    """A partition of a campaign's region into strata, from a categorical raster or from polygons."""

    class Source(models.TextChoices):
        RASTER = "raster", "Categorical raster"
        VECTOR = "vector", "Polygons"

    campaign = models.ForeignKey("fieldcollect.Campaign", on_delete=models.CASCADE, related_name="stratifications")
    name = models.CharField(max_length=200)
    source = models.CharField(max_length=10, choices=Source.choices)
    raster = models.ForeignKey(
        RasterLayer, null=True, blank=True, on_delete=models.PROTECT, related_name="stratifications"
    )
    resolution = models.FloatField(help_text="Cell size (m) of the grid the strata are counted and sampled on.")
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["campaign", "name"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "name"], name="unique_stratification_name"),
            models.CheckConstraint(
                condition=models.Q(source="vector") | models.Q(raster__isnull=False),
                name="stratification_raster_given",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Stratum(models.Model):
    """One stratum: its code in the strata raster, label and exact area."""

    stratification = models.ForeignKey(Stratification, on_delete=models.CASCADE, related_name="strata")
    value = models.PositiveIntegerField(help_text="Code of the stratum in the strata raster (1…).")
    label = models.CharField(max_length=200)
    pixel_count = models.BigIntegerField(help_text="Cells of the stratum on the stratification grid.")
    area_m2 = models.FloatField(help_text="Exact area: cells × cell area, or the polygon area for vector strata.")
    geometry = models.MultiPolygonField(srid=LAMBERT93, null=True, blank=True)
    std_dev = models.FloatField(null=True, blank=True, help_text="Anticipated standard deviation (Neyman).")
    expected_accuracy = models.FloatField(
        null=True, blank=True, help_text="Anticipated accuracy p (Neyman with S = √(p(1−p)))."
    )

    class Meta:
        ordering = ["stratification", "value"]
        constraints = [models.UniqueConstraint(fields=["stratification", "value"], name="unique_stratum_value")]

    def __str__(self) -> str:
        return f"{self.value} {self.label}"


class Allocation(models.TextChoices):
    PROPORTIONAL = "proportional", "Proportional to area"
    EQUAL = "equal", "Equal"
    NEYMAN = "neyman", "Neyman (area × standard deviation)"
    MINIMUM_THEN_PROPORTIONAL = "minimum_then_proportional", "A minimum per stratum, the rest proportional"


class SamplingPlan(models.Model):
    """Where to go in the field: a seeded, stratified random set of points with a minimum spacing."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active (on tablets)"
        CLOSED = "closed", "Closed"

    campaign = models.ForeignKey("fieldcollect.Campaign", on_delete=models.CASCADE, related_name="sampling_plans")
    stratification = models.ForeignKey(Stratification, on_delete=models.PROTECT, related_name="plans")
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    allocation = models.CharField(max_length=30, choices=Allocation.choices)
    total_size = models.PositiveIntegerField()
    min_per_stratum = models.PositiveIntegerField(default=0)
    min_distance_m = models.FloatField(default=0.0)
    seed = models.BigIntegerField()
    exclusions = models.JSONField(default=list, blank=True, help_text="Exclusion masks applied, as described.")
    parameters = models.JSONField(default=dict, blank=True, help_text="Everything needed to regenerate the plan.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["campaign", "name"], name="unique_sampling_plan_name")]

    def __str__(self) -> str:
        return self.name


class PlanStratum(models.Model):
    """A stratum's allocation in a plan: target size, eligible area after exclusions, points made."""

    plan = models.ForeignKey(SamplingPlan, on_delete=models.CASCADE, related_name="plan_strata")
    stratum = models.ForeignKey(Stratum, on_delete=models.PROTECT, related_name="+")
    eligible_pixel_count = models.BigIntegerField()
    eligible_area_m2 = models.FloatField()
    allocated = models.PositiveIntegerField(help_text="Points allocated (current target, after re-allocations).")
    generated = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["plan", "stratum__value"]
        constraints = [models.UniqueConstraint(fields=["plan", "stratum"], name="unique_plan_stratum")]

    def __str__(self) -> str:
        return f"{self.plan} / {self.stratum}: {self.allocated}"


class VisitState(models.TextChoices):
    PENDING = "pending", "To visit"
    VISITED = "visited", "Visited"
    INACCESSIBLE = "inaccessible", "Inaccessible"
    REFUSED = "refused", "Access refused"


class SamplePoint(models.Model):
    """One point of a plan, with its stratum, inclusion probability, assignee and visit state."""

    plan = models.ForeignKey(SamplingPlan, on_delete=models.CASCADE, related_name="points")
    stratum = models.ForeignKey(Stratum, on_delete=models.PROTECT, related_name="points")
    number = models.PositiveIntegerField(help_text="Order of the point in the plan (1…), stable label in the field.")
    location = models.PointField(srid=LAMBERT93)
    inclusion_probability = models.FloatField(
        help_text="Probability that the point's 10 m cell is selected: n_h / N_h on the eligible cells."
    )
    batch = models.PositiveSmallIntegerField(default=0, help_text="0 for the initial draw, then each re-allocation.")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="sample_points"
    )
    state = models.CharField(max_length=20, choices=VisitState.choices, default=VisitState.PENDING)
    reason = models.TextField(blank=True, help_text="Why the point was inaccessible or refused.")
    releve_uuid = models.UUIDField(null=True, blank=True, help_text="Client UUID of the relevé made at the point.")
    visited_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["plan", "number"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "number"], name="unique_sample_point_number"),
            models.CheckConstraint(
                condition=models.Q(inclusion_probability__gt=0, inclusion_probability__lte=1),
                name="sample_point_inclusion_probability_range",
            ),
        ]
        indexes = [models.Index(fields=["assignee", "updated_at"], name="sample_point_assignee_upd")]

    def __str__(self) -> str:
        return f"{self.plan} #{self.number}"


class SamplePointEvent(models.Model):
    """Audit trail of a point: assignment changes and visit reports (who, what, when)."""

    class Action(models.TextChoices):
        ASSIGNED = "assigned", "Assigned"
        UNASSIGNED = "unassigned", "Unassigned"
        REPORTED = "reported", "Visit reported"
        REOPENED = "reopened", "Reopened"

    point = models.ForeignKey(SamplePoint, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=20, choices=Action.choices)
    from_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    to_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    state = models.CharField(max_length=20, choices=VisitState.choices, blank=True)
    reason = models.TextField(blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.point}: {self.action}"


class JobStatus(models.TextChoices):
    """The life of a background job (exports, model training, map runs): queued → running → succeeded | failed."""

    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class ExportJob(models.Model):
    """One export requested through the API: its parameters, its state and the file it produced.

    The file is written by a Celery task into the default storage under ``exports/<uuid>/``.
    """

    class Format(models.TextChoices):
        GPKG = "gpkg", "GeoPackage"
        CSV = "csv", "CSV (zip)"
        PARQUET = "parquet", "GeoParquet (zip)"
        DWCA = "dwca", "Darwin Core Archive"
        PHOTOS = "photos", "Photos (zip)"

    class Subject(models.TextChoices):
        RELEVES = "releves", "Relevés"

    uuid = models.UUIDField(unique=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    subject = models.CharField(max_length=20, choices=Subject.choices, default=Subject.RELEVES)
    format = models.CharField(max_length=10, choices=Format.choices)
    parameters = models.JSONField(default=dict, help_text="The checked selection (campaigns, statuses, dates, CRS…).")
    state = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    file = models.FileField(upload_to="exports/", max_length=300, blank=True)
    size = models.PositiveBigIntegerField(null=True, blank=True)
    row_counts = models.JSONField(default=dict, blank=True)
    error_code = models.CharField(max_length=50, blank=True)
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["requested_by", "created_at"], name="exportjob_user_time")]

    def __str__(self) -> str:
        return f"{self.get_format_display()} export {self.uuid} ({self.state})"


class TrainingSet(models.Model):
    """A frozen, content-hashed table of training samples (one row per pixel, grouped by plot).

    The table is stored as canonical bytes (``classification.training.hashing``); ``content_hash`` is
    their SHA-256, so rebuilding the same content gives the same file and the same hash.
    """

    name = models.SlugField(max_length=200, unique=True)
    feature_set = models.ForeignKey(FeatureSet, on_delete=models.PROTECT, related_name="training_sets")
    legend = models.ForeignKey("habitats.MapLegend", on_delete=models.PROTECT, related_name="training_sets")
    content_hash = models.CharField(max_length=64, db_index=True)
    table = models.FileField(upload_to="training_sets/", max_length=300)
    n_samples = models.PositiveIntegerField()
    n_plots = models.PositiveIntegerField()
    class_counts = models.JSONField(default=dict, help_text="Per class value: samples and plots.")
    provenance = models.JSONField(
        default=dict, help_text="Legend version, feature names, source (relevé versions, QC rule versions), options."
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.content_hash[:12]})"


class Algorithm(models.TextChoices):
    RANDOM_FOREST = "random_forest", "Random forest"
    EXTRA_TREES = "extra_trees", "Extra trees"
    GRADIENT_BOOSTING = "gradient_boosting", "Gradient boosting (slow at hundreds of classes)"


class TrainedModel(models.Model):
    """A classifier trained on a training set, with random-CV and spatial-CV metrics and its cost."""

    training_set = models.ForeignKey(TrainingSet, on_delete=models.PROTECT, related_name="models")
    algorithm = models.CharField(max_length=30, choices=Algorithm.choices, default=Algorithm.RANDOM_FOREST)
    params = models.JSONField(default=dict)
    n_folds = models.PositiveSmallIntegerField(default=5)
    block_size_m = models.FloatField(null=True, blank=True, help_text="Spatial block side; estimated when empty.")
    block_size_estimated = models.BooleanField(default=False)
    seed = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=20, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.FloatField(default=0.0)
    message = models.TextField(blank=True)
    error_code = models.CharField(max_length=50, blank=True)
    artifact = models.FileField(upload_to="models/", max_length=300, blank=True)
    artifact_sha256 = models.CharField(max_length=64, blank=True)
    classes = models.JSONField(default=list)
    feature_names = models.JSONField(default=list)
    cv_random = models.JSONField(default=dict, blank=True)
    cv_spatial = models.JSONField(default=dict, blank=True)
    importances = models.JSONField(default=dict, blank=True)
    fit_seconds = models.FloatField(null=True, blank=True, help_text="Wall time of the final fit.")
    cpu_seconds = models.FloatField(null=True, blank=True, help_text="CPU-seconds of cross-validation + final fit.")
    peak_rss_bytes = models.BigIntegerField(null=True, blank=True)
    model_size_bytes = models.BigIntegerField(null=True, blank=True)
    watts_per_core = models.FloatField(null=True, blank=True)
    energy_kwh = models.FloatField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_algorithm_display()} #{self.pk} on {self.training_set.name}"


class MapRun(models.Model):
    """A trained model predicted over an area, tile by tile; outputs a class COG, a confidence COG, a preview."""

    model = models.ForeignKey(TrainedModel, on_delete=models.PROTECT, related_name="map_runs")
    campaign = models.ForeignKey(
        "fieldcollect.Campaign",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="map_runs",
        help_text="The campaign whose region is mapped (and whose validation plans may assess the map).",
    )
    name = models.CharField(max_length=200)
    area = models.MultiPolygonField(srid=LAMBERT93, null=True, blank=True, help_text="Empty: the feature grid.")
    grid = models.JSONField(help_text="The map grid: transform, width, height, CRS.")
    tile_size = models.PositiveIntegerField(default=512)
    min_mapping_unit_px = models.PositiveIntegerField(default=0, help_text="Sieve threshold; 0 = no sieve.")
    threads_per_worker = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(max_length=20, choices=JobStatus.choices, default=JobStatus.QUEUED)
    message = models.TextField(blank=True)
    error_code = models.CharField(max_length=50, blank=True)
    tiles_total = models.PositiveIntegerField(default=0)
    output_dir = models.CharField(
        max_length=200, help_text="Directory under MEDIA_ROOT (unique per run, so stale tiles are never reused)."
    )
    classes_cog = models.CharField(max_length=500, blank=True, help_text="Path under MEDIA_ROOT.")
    confidence_cog = models.CharField(max_length=500, blank=True)
    preview_png = models.CharField(max_length=500, blank=True)
    cpu_seconds = models.FloatField(default=0.0, help_text="Sum over tiles and the mosaic.")
    peak_rss_bytes = models.BigIntegerField(default=0, help_text="Largest peak of one worker process on one tile.")
    energy_kwh = models.FloatField(default=0.0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_status_display()})"


class MapTile(models.Model):
    """One tile of a map run: done once its two files are in place (the files are the truth; this row is
    the bookkeeping for progress, ETA and cost)."""

    run = models.ForeignKey(MapRun, on_delete=models.CASCADE, related_name="tiles")
    row = models.PositiveIntegerField()
    col = models.PositiveIntegerField()
    done = models.BooleanField(default=False)
    valid_pixels = models.PositiveIntegerField(default=0)
    wall_seconds = models.FloatField(default=0.0)
    cpu_seconds = models.FloatField(default=0.0)
    peak_rss_bytes = models.BigIntegerField(default=0)
    energy_kwh = models.FloatField(default=0.0)
    worker = models.CharField(max_length=200, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "row", "col"]
        constraints = [models.UniqueConstraint(fields=["run", "row", "col"], name="unique_map_tile")]
        indexes = [models.Index(fields=["run", "done"], name="map_tile_run_done")]

    def __str__(self) -> str:
        return f"tile r{self.row} c{self.col} of run {self.run_id}"


class AccuracyAssessment(models.Model):
    """Design-based accuracy and area estimates of a finished map run from a validation sampling plan.

    ``report`` is the estimator's JSON (error matrix of sample counts and estimated area proportions,
    overall/user's/producer's accuracy and class areas in hectares, each with SE and 95 % CI);
    ``exclusions`` lists every plan point that could not be used, with a stable reason code.
    """

    class Method(models.TextChoices):
        OLOFSSON = "olofsson2014", "Olofsson et al. 2014 (strata = map classes)"
        STEHMAN = "stehman2014", "Stehman 2014 (strata ≠ map classes)"

    map_run = models.ForeignKey(MapRun, on_delete=models.PROTECT, related_name="accuracy_assessments")
    sampling_plan = models.ForeignKey(SamplingPlan, on_delete=models.PROTECT, related_name="accuracy_assessments")
    method = models.CharField(max_length=20, choices=Method.choices)
    classes = models.JSONField(help_text="[{value, code, name}] in the report's order.")
    report = models.JSONField()
    n_points = models.PositiveIntegerField(help_text="Points in the plan.")
    n_used = models.PositiveIntegerField(help_text="Points with a map class and a validated reference class.")
    exclusions = models.JSONField(default=list, help_text="[{point, stratum, reason, message}] of unused points.")
    exclusion_counts = models.JSONField(default=dict, help_text="{reason: count}")
    area_unit = models.CharField(max_length=10, default="ha")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"accuracy of {self.map_run.name} by {self.sampling_plan.name} ({self.created_at:%Y-%m-%d})"


class TrainingSample(models.Model):
    """One validated relevé in the live training pool of a (legend, feature set): its label and pixels.

    Kept up to date from the validation queue (``classification.services.pool``): a validated relevé gets
    one row, either *included* (a map class and the feature vectors of the pixels under its plot) or
    *excluded* with a stable reason; a relevé that leaves "validated" loses its rows. All the pixels of a
    plot live in this one row, so they are never split.
    """

    class Status(models.TextChoices):
        INCLUDED = "included", "Included"
        EXCLUDED = "excluded", "Excluded"

    releve = models.ForeignKey("fieldcollect.Releve", on_delete=models.CASCADE, related_name="training_samples")
    releve_version = models.PositiveIntegerField()
    legend = models.ForeignKey("habitats.MapLegend", on_delete=models.CASCADE, related_name="training_samples")
    feature_set = models.ForeignKey(FeatureSet, on_delete=models.CASCADE, related_name="training_samples")
    status = models.CharField(max_length=10, choices=Status.choices)
    label = models.PositiveIntegerField(null=True, blank=True, help_text="Map class value (included samples).")
    dominant_share = models.FloatField(
        null=True, blank=True, help_text="Share (0–1) of the plot covered by the winning class."
    )
    reason = models.CharField(max_length=40, blank=True, help_text="Why the relevé is excluded (stable code).")
    message = models.TextField(blank=True)
    footprint = models.CharField(max_length=10, blank=True, help_text="'plot' or 'buffer': what selected the pixels.")
    pixels = models.JSONField(
        default=dict,
        blank=True,
        help_text="{'cell': [grid cell ids], 'x': [...], 'y': [...], 'values': [[one float per feature], ...]}",
    )
    n_pixels = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["legend", "feature_set", "releve"]
        constraints = [
            models.UniqueConstraint(fields=["releve", "legend", "feature_set"], name="unique_training_sample"),
            models.CheckConstraint(
                condition=(
                    models.Q(status="included", label__isnull=False)
                    | models.Q(status="excluded") & ~models.Q(reason="")
                ),
                name="training_sample_label_or_reason",
            ),
        ]
        indexes = [models.Index(fields=["legend", "feature_set", "status"], name="trainingsample_pool")]

    def __str__(self) -> str:
        return f"relevé {self.releve_id} → {self.label if self.label is not None else self.reason}"
