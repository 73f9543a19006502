"""The accuracy_report command: Olofsson and Stehman inputs from CSV, JSON/CSV output, and bad files."""

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.classification.accuracy.test_published_examples import (
    STEHMAN_MAP,
    STEHMAN_REF,
    STEHMAN_STRATA,
)

ROOT = Path(__file__).resolve().parents[3]

COUNTS = """map \\ reference,deforestation,forest gain,stable forest,stable non-forest
deforestation,66,0,5,4
forest gain,0,55,8,12
stable forest,1,0,153,11
stable non-forest,2,1,9,313
"""
AREAS = """class,mapped_area
deforestation,200000
forest gain,150000
stable forest,3200000
stable non-forest,6450000
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("accuracy_report", *args, stdout=out)
    return out.getvalue()


def test_json_report_of_the_olofsson_example_in_hectares(tmp_path):
    # given the Olofsson et al. (2014) matrix and mapped pixel counts, columns in another order than rows
    counts = write(tmp_path, "counts.csv", COUNTS)
    areas = write(tmp_path, "areas.csv", AREAS)
    # when the report is printed as JSON with 0.09 ha pixels
    report = json.loads(run("--counts", str(counts), "--mapped-area", str(areas), "--pixel-area", "0.09"))
    # then it carries every estimate
    assert report["method"] == "olofsson2014"
    assert report["sample_size"] == 640
    assert round(report["overall_accuracy"]["estimate"], 4) == 0.9465
    deforestation = report["per_class"][0]
    assert deforestation["class"] == "deforestation"
    assert round(deforestation["area"]["estimate"]) == 21_158
    assert round(deforestation["area"]["ci_high"] - deforestation["area"]["estimate"]) == 6_158
    assert deforestation["users_accuracy"]["estimate"] == pytest.approx(0.88)
    assert round(deforestation["producers_accuracy"]["estimate"], 4) == 0.7487
    assert deforestation["mapped_area"] == pytest.approx(18_000)
    assert report["error_matrix"]["sample_counts"][3] == [2, 1, 9, 313]


def test_columns_are_matched_by_name_not_position(tmp_path):
    # given the same matrix with the reference columns reversed
    rows = list(csv.reader(io.StringIO(COUNTS)))
    reordered = "\n".join(",".join([r[0], *reversed(r[1:])]) for r in rows) + "\n"
    a = json.loads(
        run("--counts", str(write(tmp_path, "c1.csv", COUNTS)), "--mapped-area", str(write(tmp_path, "a.csv", AREAS)))
    )
    b = json.loads(run("--counts", str(write(tmp_path, "c2.csv", reordered)), "--mapped-area", str(tmp_path / "a.csv")))
    # then the estimates are identical
    assert a == b


def test_csv_report(tmp_path):
    out = run(
        "--counts",
        str(write(tmp_path, "c.csv", COUNTS)),
        "--mapped-area",
        str(write(tmp_path, "a.csv", AREAS)),
        "--format",
        "csv",
    )
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0]["measure"] == "overall_accuracy"
    assert len(rows) == 1 + 4 * 4
    area = next(r for r in rows if r["measure"] == "area" and r["class"] == "forest gain")
    assert round(float(area["estimate"]) * 0.09) == 11_686


def test_stehman_report_from_a_unit_sample(tmp_path):
    # given the Stehman (2014) sample as one row per unit, and the stratum sizes
    lines = ["stratum,map_class,reference_class"] + [
        f"{s},{m},{r}" for s, m, r in zip(STEHMAN_STRATA, STEHMAN_MAP, STEHMAN_REF, strict=True)
    ]
    sample = write(tmp_path, "sample.csv", "\n".join(lines) + "\n")
    strata = write(tmp_path, "strata.csv", "stratum,size\n1,40000\n2,30000\n3,20000\n4,10000\n")
    report = json.loads(run("--sample", str(sample), "--strata", str(strata)))
    assert report["method"] == "stehman2014"
    assert report["overall_accuracy"]["estimate"] == pytest.approx(0.63)
    assert report["per_class"][1]["users_accuracy"]["estimate"] == pytest.approx(27 / 47)
    assert report["total_area"] == 100_000


@pytest.mark.parametrize(
    ("counts", "areas", "message"),
    [
        # non-square: 3 reference columns for 4 map rows
        (COUNTS.replace(",stable non-forest\n", "\n", 1), AREAS, "counts.csv: 4 map-class rows but 3"),
        # negative count on the 3rd line
        (COUNTS.replace("forest gain,0,55", "forest gain,0,-55"), AREAS, "counts.csv, row 3: negative count -55"),
        # a count that is not a number
        (COUNTS.replace("153", "15x3"), AREAS, "counts.csv, row 4: count for reference class 'stable forest'"),
        # a class of the areas file unknown to the counts file
        (COUNTS, AREAS + "water,10\n", "areas.csv, row 6: class 'water' is not in"),
        # a class of the counts file with no area
        (
            COUNTS,
            AREAS.replace("forest gain,150000\n", ""),
            "counts.csv, row 3: class 'forest gain' has no mapped area",
        ),
        # an empty area cell
        (COUNTS, AREAS.replace("150000", ""), "areas.csv, row 3: no mapped area for 'forest gain'"),
        # a map class with area but no sample
        (COUNTS.replace("0,55,8,12", "0,0,0,0"), AREAS, "map class 'forest gain' covers 150000 but has no sample"),
        # a row class missing among the columns
        (COUNTS.replace("\nforest gain,", "\nforest loss,"), AREAS, "counts.csv, row 3: map class 'forest loss'"),
    ],
)
def test_bad_files_fail_with_the_file_and_row(tmp_path, counts, areas, message):
    c = write(tmp_path, "counts.csv", counts)
    a = write(tmp_path, "areas.csv", areas)
    with pytest.raises(CommandError) as info:
        run("--counts", str(c), "--mapped-area", str(a))
    assert message in str(info.value)


def test_unknown_stratum_names_the_sample_row(tmp_path):
    sample = write(tmp_path, "sample.csv", "stratum,map_class,reference_class\n1,a,a\n1,a,b\n7,b,b\n")
    strata = write(tmp_path, "strata.csv", "stratum,size\n1,100\n")
    with pytest.raises(CommandError) as info:
        run("--sample", str(sample), "--strata", str(strata))
    assert "sample.csv, row 4: stratum '7' has no size" in str(info.value)
    assert "[unknown_stratum]" in str(info.value)


def test_mixed_modes_are_refused(tmp_path):
    with pytest.raises(CommandError, match="not both"):
        run("--counts", "c.csv", "--mapped-area", "a.csv", "--sample", "s.csv")
    with pytest.raises(CommandError, match="--counts needs --mapped-area"):
        run("--counts", "c.csv")


def test_the_command_exits_non_zero_with_the_message(tmp_path):
    # given a matrix with a negative count, run as a real process
    c = write(tmp_path, "counts.csv", COUNTS.replace(",313", ",-313"))
    a = write(tmp_path, "areas.csv", AREAS)
    done = subprocess.run(
        [sys.executable, "manage.py", "accuracy_report", "--counts", str(c), "--mapped-area", str(a)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    # then it fails, names the file and row, and prints nothing on stdout
    assert done.returncode == 1
    assert f"{c}, row 5: negative count -313" in done.stderr
    assert done.stdout == ""
