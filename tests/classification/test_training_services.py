import numpy as np
import pytest
import rasterio

from classification.models import FeatureSet, JobStatus, TrainedModel, TrainingSet
from classification.services.rasters import FeatureDefinition, feature_set_create, raster_layer_register
from classification.services.training import (
    TrainingServiceError,
    trained_model_fit,
    trained_model_load,
    trained_model_train,
    training_set_freeze,
    training_set_table,
)
from habitats.models import MapClass, MapLegend

from .mapping.synthetic import landscape


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def make_scene(tmp_path, *, width=600, height=400):
    """A registered 2-band synthetic landscape, its feature set, a 3-class legend and a sample table."""
    grid, paths, truth, _ = landscape(tmp_path, width=width, height=height)
    layers = [
        raster_layer_register(uri=str(p), name=f"synthetic-band-{i + 1}-{tmp_path.name[-8:]}", kind="other")[0]
        for i, p in enumerate(paths)
    ]
    definitions = [
        FeatureDefinition(name=f"b{i + 1}", derivation="band", inputs=[(layer.pk, 1)]) for i, layer in enumerate(layers)
    ]
    feature_set = feature_set_create(name=f"synthetic-{tmp_path.name[-8:]}", features=definitions)
    legend = MapLegend.objects.create(name=f"synthetic {tmp_path.name}", version=1, is_active=True)
    for value, colour in ((1, "#1b9e77"), (2, "#d95f02"), (3, "#7570b3")):
        MapClass.objects.create(legend=legend, value=value, code=f"C{value}", name=f"class {value}", color=colour)
    # 240 plots of 4 pixels in 2 × 2 squares, clear of the nodata hole
    rng = np.random.default_rng(0)
    bands = [rasterio.open(p).read(1) for p in paths]
    rows, cols, plots, pixels = [], [], [], []
    plot = 0
    while plot < 240:
        r, c = int(rng.integers(0, height - 1)), int(rng.integers(0, width - 1))
        if 95 <= r <= 145 and 195 <= c <= 265:
            continue
        for k, (dr, dc) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
            rows.append(r + dr)
            cols.append(c + dc)
            plots.append(plot)
            pixels.append(k)
        plot += 1
    rows_a, cols_a = np.array(rows), np.array(cols)
    x, y = rasterio.transform.xy(grid.transform, rows_a, cols_a)
    table = {
        "plot": np.array(plots),
        "pixel": np.array(pixels),
        "x": np.asarray(x),
        "y": np.asarray(y),
        "label": truth[rows_a, cols_a],
        "b1": bands[0][rows_a, cols_a],
        "b2": bands[1][rows_a, cols_a],
    }
    return grid, feature_set, legend, table


@pytest.mark.django_db
def test_a_frozen_training_set_rebuilds_identically(tmp_path, media, modeller):
    # given a sample table
    _, feature_set, legend, table = make_scene(tmp_path)
    # when it is frozen twice, the second time from rows gathered in another order
    first = training_set_freeze(actor=modeller, name="ts-a", feature_set=feature_set, legend=legend, columns=table)
    order = np.random.default_rng(1).permutation(table["plot"].size)
    second = training_set_freeze(
        actor=modeller,
        name="ts-b",
        feature_set=feature_set,
        legend=legend,
        columns={k: v[order] for k, v in table.items()},
    )
    # then the two stored files are byte-for-byte identical and share the hash
    assert first.content_hash == second.content_hash
    assert first.table.read() == second.table.read()
    assert (first.n_samples, first.n_plots) == (960, 240)
    assert sum(c["plots"] for c in first.class_counts.values()) == 240
    assert first.provenance["feature_set"]["features"] == ["b1", "b2"]
    assert first.provenance["legend"]["version"] == 1
    # and reading it back gives the samples in canonical order
    t = training_set_table(first)
    assert t.X.shape == (960, 2)
    assert t.plot.tolist()[:8] == [0, 0, 0, 0, 1, 1, 1, 1]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda t: t.pop("b2"), "wrong_columns"),
        (lambda t: t.update(extra=t["b1"]), "wrong_columns"),
        (lambda t: t.update(label=np.full_like(t["label"], 9)), "unknown_class"),
        (lambda t: t["b1"].__setitem__(0, np.nan), "missing_features"),
        (lambda t: t.update(pixel=np.zeros_like(t["pixel"])), "invalid_table"),
        (lambda t: t.update({k: v[:0] for k, v in t.items()}), "empty"),
    ],
)
def test_bad_tables_are_refused_and_nothing_is_stored(tmp_path, media, change, code):
    _, feature_set, legend, table = make_scene(tmp_path)
    table = {k: v.copy() for k, v in table.items()}
    change(table)
    with pytest.raises(TrainingServiceError) as err:
        training_set_freeze(actor=None, name="bad", feature_set=feature_set, legend=legend, columns=table)
    assert err.value.code == code
    assert TrainingSet.objects.count() == 0
    assert not (media / "training_sets").exists() or not any((media / "training_sets").iterdir())


@pytest.mark.django_db
def test_a_frozen_name_cannot_be_reused(tmp_path, media):
    _, feature_set, legend, table = make_scene(tmp_path)
    training_set_freeze(actor=None, name="ts", feature_set=feature_set, legend=legend, columns=table)
    with pytest.raises(TrainingServiceError) as err:
        training_set_freeze(actor=None, name="ts", feature_set=feature_set, legend=legend, columns=table)
    assert err.value.code == "duplicate"
    assert TrainingSet.objects.count() == 1


@pytest.mark.django_db
def test_training_records_both_cv_schemes_cost_and_artifact(
    tmp_path, media, modeller, django_capture_on_commit_callbacks
):
    _, feature_set, legend, table = make_scene(tmp_path)
    ts = training_set_freeze(actor=modeller, name="ts", feature_set=feature_set, legend=legend, columns=table)
    # when a model is queued (the task is not run here) and fitted by the service
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        model = trained_model_train(
            actor=modeller, training_set=ts, params={"n_estimators": 15}, n_folds=3, block_size_m=1000.0
        )
    assert len(callbacks) == 1 and model.status == JobStatus.QUEUED
    model = trained_model_fit(model_id=model.pk)
    # then it succeeded with metrics for both schemes, importances and cost
    assert model.status == JobStatus.SUCCEEDED and model.progress == 1.0
    assert model.classes == [1, 2, 3]
    assert len(model.cv_random["folds"]) == 3 and len(model.cv_spatial["folds"]) == 3
    assert np.sum(model.cv_spatial["pooled_confusion"]) == 960
    assert 0.8 < model.cv_spatial["overall_accuracy"] <= 1.0
    assert set(model.importances) == {"b1", "b2"}
    assert model.cpu_seconds > 0 and model.energy_kwh == pytest.approx(model.cpu_seconds * 10.0 / 3.6e6)
    assert model.model_size_bytes > 0 and model.block_size_m == 1000.0 and not model.block_size_estimated
    # the artifact loads back and predicts
    estimator = trained_model_load(model)
    assert estimator.predict(np.array([[0.0, 5.0]], dtype=np.float32)).tolist() == [1]
    # and fitting again is a no-op
    again = trained_model_fit(model_id=model.pk)
    assert again.finished_at == model.finished_at


@pytest.mark.django_db
def test_block_size_is_estimated_when_not_given(tmp_path, media):
    _, feature_set, legend, table = make_scene(tmp_path)
    ts = training_set_freeze(actor=None, name="ts", feature_set=feature_set, legend=legend, columns=table)
    model = trained_model_train(actor=None, training_set=ts, params={"n_estimators": 5}, n_folds=3)
    model = trained_model_fit(model_id=model.pk)
    assert model.status == JobStatus.SUCCEEDED, model.message
    assert model.block_size_estimated and model.block_size_m > 0


@pytest.mark.django_db
def test_impossible_folds_fail_the_model_with_a_code(tmp_path, media):
    _, feature_set, legend, table = make_scene(tmp_path)
    ts = training_set_freeze(actor=None, name="ts", feature_set=feature_set, legend=legend, columns=table)
    model = trained_model_train(actor=None, training_set=ts, params={"n_estimators": 5}, n_folds=5, block_size_m=1e7)
    model = trained_model_fit(model_id=model.pk)
    assert (model.status, model.error_code) == (JobStatus.FAILED, "invalid_training_data")
    assert "blocks cannot make 5 folds" in model.message
    assert not model.artifact


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"algorithm": "svm"}, "invalid_parameters"),
        ({"params": {"n_estimator": 3}}, "invalid_parameters"),
        ({"n_folds": 1}, "invalid_folds"),
        ({"block_size_m": -5.0}, "invalid_block_size"),
    ],
)
def test_bad_training_requests_are_refused(tmp_path, media, kwargs, code):
    _, feature_set, legend, table = make_scene(tmp_path)
    ts = training_set_freeze(actor=None, name="ts", feature_set=feature_set, legend=legend, columns=table)
    with pytest.raises(TrainingServiceError) as err:
        trained_model_train(actor=None, training_set=ts, **kwargs)
    assert err.value.code == code
    assert TrainedModel.objects.count() == 0
    assert FeatureSet.objects.count() == 1
