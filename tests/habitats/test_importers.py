"""HABREF, flora, TAXREF and EUNIS-ESy importers on the real shared files and on broken copies."""

from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from habitats.models import CharacteristicSpecies, Correspondence, HabitatUnit, ReferenceVersion, Taxon, Typology
from habitats.services.characteristic_species import characteristic_species_import
from habitats.services.habref import HabrefFiles, habref_import
from habitats.services.importing import ImportAborted
from habitats.services.taxa import flora_import, taxon_name_without_author, taxref_import
from tests.habitats.conftest import DATA, read_rows, write_rows


def counts(reports):
    return {r.kind: (r.rows, r.created, r.updated, r.unchanged, r.skipped, len(r.rejected)) for r in reports}


def test_habref_import_of_the_shared_files_counts_every_row(db, habref_files):
    # given the real HABREF 7.0 files
    # when they are imported into an empty database
    reports = habref_import(files=habref_files)
    # then every row is accounted for
    assert counts(reports) == {
        "typologies": (82, 82, 0, 0, 0, 0),
        "relation types": (33, 33, 0, 0, 0, 0),
        "habitat units": (10473, 10473, 0, 0, 0, 0),
        "crosswalks": (47309, 1930, 0, 0, 45379, 0),
    }
    assert reports[3].skipped_reasons["without a target unit (no correspondence)"] == 1994
    assert reports[3].skipped_reasons["unit of typology 7 not imported"] == 17332
    # the two PVF2 codes HABREF itself uses twice are reported as warnings
    assert [(w.line, w.column, w.code) for w in reports[2].warnings] == [
        (8597, "LB_CODE", "duplicate_code"),
        (9960, "LB_CODE", "duplicate_code"),
    ]
    unit = HabitatUnit.objects.get(cd_hab=51641)
    assert (unit.code, unit.code_normalized, unit.typology_id, unit.level, unit.parent_id) == (
        "T3-736", "T3736", 107, 5, 51635,
    )  # fmt: skip
    assert unit.path == "/49240/51228/51589/51635/51641/"
    assert unit.name_en == "Baetic Salzmann's pine forests"
    assert unit.in_france is False
    # level-1 units name themselves as parent in HABREF: they are roots
    root = HabitatUnit.objects.get(cd_hab=48478)
    assert (root.code, root.parent_id, root.path) == ("R", None, "/48478/")
    assert HabitatUnit.objects.get(cd_hab=51643).search_text == (
        " t1 e23 t1e23 frenaies pyreneo cantabriques pyreneo cantabrian fraxinus forests "
    )
    assert Typology.objects.get(cd_typo=107).name == "EUNIS_2022"
    assert ReferenceVersion.objects.count() == 1


def test_habref_reimport_changes_nothing(habref_loaded, habref_files):
    # given the shared files already imported
    version_before = ReferenceVersion.objects.count()
    # when they are imported again
    reports = habref_import(files=habref_files)
    # then everything is unchanged and no new reference version is recorded
    assert counts(reports) == {
        "typologies": (82, 0, 0, 82, 0, 0),
        "relation types": (33, 0, 0, 33, 0, 0),
        "habitat units": (10473, 0, 0, 10473, 0, 0),
        "crosswalks": (47309, 0, 0, 1930, 45379, 0),
    }
    assert ReferenceVersion.objects.count() == version_before
    assert HabitatUnit.objects.count() == 10473
    assert Correspondence.objects.count() == 1930


def test_habref_reimport_updates_a_changed_unit(habref_loaded, habref_files, tmp_path):
    # given a newer units file where one name changed
    header, rows = read_rows(habref_files.units)
    cd, name = header.index("CD_HAB"), header.index("LB_HAB_FR")
    for row in rows:
        if row[cd] == "51643":
            row[name] = "Frênaies des Pyrénées"
    units = write_rows(tmp_path / "HABREF_71.csv", header, rows)
    # when it is imported
    [report] = habref_import(files=HabrefFiles(units=units))
    # then one unit is updated, with a new reference version and a fresh search text
    assert (report.created, report.updated, report.unchanged) == (0, 1, 10472)
    unit = HabitatUnit.objects.get(cd_hab=51643)
    assert unit.name_fr == "Frênaies des Pyrénées"
    assert unit.ref_version == ReferenceVersion.objects.latest("pk").pk
    assert "frenaies des pyrenees" in unit.search_text


def test_columns_are_matched_by_header_name(db, habref_files, tmp_path):
    # given a units file whose columns are reordered and with an extra column
    header, rows = read_rows(habref_files.units)
    order = list(reversed(range(len(header))))
    units = write_rows(
        tmp_path / "units.csv",
        [*[header[i] for i in order], "NEW_COLUMN"],
        [[*[r[i] for i in order], "x"] for r in rows],
    )
    # when it is imported
    reports = habref_import(files=HabrefFiles(typologies=habref_files.typologies, units=units))
    # then the units are read correctly
    assert reports[1].created == 10473
    assert HabitatUnit.objects.get(cd_hab=51641).code == "T3-736"


def assert_aborted(excinfo, expected):
    assert [(Path(p.file).name, p.line, p.column, p.code) for p in excinfo.value.problems] == expected


@pytest.fixture
def typologies_only(db, habref_files):
    habref_import(files=HabrefFiles(typologies=habref_files.typologies))


def test_wrong_encoding_is_reported_with_its_line_and_nothing_changes(habref_loaded, habref_files, tmp_path):
    # given the units file re-encoded in Latin-1
    broken = tmp_path / "HABREF_latin1.csv"
    broken.write_bytes(habref_files.units.read_text(encoding="utf-8-sig").encode("latin-1", errors="replace"))
    before = HabitatUnit.objects.get(cd_hab=51643).name_fr
    # when it is imported
    with pytest.raises(ImportAborted) as excinfo:
        habref_import(files=HabrefFiles(units=broken))
    # then the first undecodable byte is located, and the stored units are intact
    assert_aborted(excinfo, [("HABREF_latin1.csv", 4, "", "bad_encoding")])
    assert "expected UTF-8" in excinfo.value.problems[0].message
    assert HabitatUnit.objects.count() == 10473
    assert HabitatUnit.objects.get(cd_hab=51643).name_fr == before == "Frênaies pyrénéo-cantabriques"


def test_missing_column_is_reported_and_nothing_is_written(typologies_only, habref_files, tmp_path):
    # given a units file without its CD_TYPO column
    header, rows = read_rows(habref_files.units)
    i = header.index("CD_TYPO")
    broken = write_rows(tmp_path / "units.csv", header[:i] + header[i + 1 :], [r[:i] + r[i + 1 :] for r in rows])
    # when it is imported along with the typologies file
    with pytest.raises(ImportAborted) as excinfo:
        habref_import(files=HabrefFiles(typologies=habref_files.typologies, relation_types=None, units=broken))
    # then the column is named, and the whole run is rolled back (typologies included)
    assert_aborted(excinfo, [("units.csv", 1, "CD_TYPO", "missing_columns")])
    assert HabitatUnit.objects.count() == 0


def test_wrong_separator_says_so(db, habref_files, tmp_path):
    # given the typologies file written with commas
    header, rows = read_rows(habref_files.typologies)
    broken = write_rows(tmp_path / "typo.csv", header, rows, delimiter=",")
    # when it is imported
    with pytest.raises(ImportAborted) as excinfo:
        habref_import(files=HabrefFiles(typologies=broken))
    # then the report names the missing columns and suspects the separator
    assert_aborted(excinfo, [("typo.csv", 1, "CD_TYPO, LB_NOM_TYPO", "missing_columns")])
    assert "is the separator ';'?" in excinfo.value.problems[0].message
    assert Typology.objects.count() == 0


UNITS_HEADER = ["CD_HAB", "FG_VALIDITE", "CD_TYPO", "LB_CODE", "LB_HAB_FR", "NIVEAU", "CD_HAB_SUP", "FRANCE"]


def unit(cd, typo, code, parent, validity="NR"):
    return [str(cd), validity, str(typo), code, f"Unité {code}", str(code.count(".") + 1), str(parent), "true"]


def test_bad_rows_are_all_reported_with_line_and_column_and_nothing_is_written(habref_loaded, tmp_path):
    # given a units file with an unknown typology, a dangling parent, a cycle, a duplicate CD_HAB and a bad value
    rows = [
        unit(900001, 22, "99", 900001),  # line 2: a root (its own parent)
        unit(900002, 22, "99.1", 900001),  # 3: fine
        unit(900003, 9999, "99.2", 900001),  # 4: unknown typology
        unit(900004, 22, "99.3", 123456789),  # 5: dangling parent
        unit(900005, 22, "99.4", 900006),  # 6: cycle with 7
        unit(900006, 22, "99.5", 900005),  # 7
        unit(900007, 22, "99.6", 900005),  # 8: below the cycle
        unit(900002, 22, "99.7", 900001),  # 9: duplicate CD_HAB
        ["90000x", "NR", "22", "99.8", "", "3", "900001", "true"],  # 10: bad CD_HAB
        unit(900009, 22, "99.9", 900001, validity="MAYBE"),  # 11: bad validity
    ]
    broken = write_rows(tmp_path / "units.csv", UNITS_HEADER, rows)
    # when it is imported
    with pytest.raises(ImportAborted) as excinfo:
        habref_import(files=HabrefFiles(units=broken))
    # then every problem is located, and nothing is written
    assert_aborted(
        excinfo,
        [
            ("units.csv", 4, "CD_TYPO", "unknown_typology"),
            ("units.csv", 5, "CD_HAB_SUP", "dangling_parent"),
            ("units.csv", 6, "CD_HAB_SUP", "cycle"),
            ("units.csv", 7, "CD_HAB_SUP", "cycle"),
            ("units.csv", 8, "CD_HAB_SUP", "parent_rejected"),
            ("units.csv", 9, "CD_HAB", "duplicate_id"),
            ("units.csv", 10, "CD_HAB", "bad_value"),
            ("units.csv", 11, "FG_VALIDITE", "bad_value"),
        ],
    )
    assert "900005 → 900006 → 900005" in excinfo.value.problems[2].message or "900006 → 900005 → 900006" in (
        excinfo.value.problems[2].message
    )
    assert "already on line 3" in excinfo.value.problems[5].message
    assert HabitatUnit.objects.filter(cd_hab__gte=900000).count() == 0
    assert HabitatUnit.objects.count() == 10473


def test_skip_invalid_imports_the_valid_rows_and_reports_the_others(habref_loaded, tmp_path):
    # given a units file with two good rows and one dangling parent
    rows = [unit(900001, 22, "99", ""), unit(900002, 22, "99.1", 900001), unit(900004, 22, "99.3", 123456789)]
    broken = write_rows(tmp_path / "units.csv", UNITS_HEADER, rows)
    # when it is imported with skip_invalid
    [report] = habref_import(files=HabrefFiles(units=broken), skip_invalid=True)
    # then the good rows are in, under a parent stored earlier or in the file
    assert (report.created, len(report.rejected)) == (2, 1)
    assert report.rejected[0].line == 4
    assert HabitatUnit.objects.get(cd_hab=900002).path == "/900001/900002/"


def test_crosswalk_with_unknown_relation_type_or_typology_is_rejected(habref_loaded, tmp_path):
    # given crosswalk rows naming an unknown relation type and an unknown typology
    header = ["CD_CORRESP_HAB", "CD_HAB_ENTRE", "CD_HAB_SORTIE", "CD_TYPE_RELATION", "CD_TYPO_ENTRE", "CD_TYPO_SORTIE"]
    rows = [["1", "51643", "51644", "777", "107", "107"], ["2", "51643", "51644", "1", "107", "4242"]]
    broken = write_rows(tmp_path / "corresp.csv", header, rows)
    # when it is imported
    with pytest.raises(ImportAborted) as excinfo:
        habref_import(files=HabrefFiles(crosswalks=broken))
    # then both rows are reported, and nothing is stored
    assert_aborted(
        excinfo,
        [
            ("corresp.csv", 2, "CD_TYPE_RELATION", "unknown_relation_type"),
            ("corresp.csv", 3, "CD_TYPO_SORTIE", "unknown_typology"),
        ],
    )
    assert Correspondence.objects.filter(pk__in=[1, 2]).count() == 0


def test_import_habref_command_prints_counts_and_fails_clearly(habref_files, db, tmp_path, capsys):
    # given the real directory
    # when the command runs
    call_command("import_habref", "--dir", str(habref_files.units.parent), "--no-progress")
    out = capsys.readouterr().out
    # then it prints one line of counts per file
    assert "habitat units HABREF_70_SUBSET.csv: 10473 rows, 10473 created, 0 updated, 0 unchanged" in out
    # and a broken file makes it fail naming the file, line and column
    broken = write_rows(tmp_path / "units.csv", UNITS_HEADER, [unit(900004, 22, "99.3", 123456789)])
    with pytest.raises(CommandError, match=r"units.csv:2 column CD_HAB_SUP: \[dangling_parent\]"):
        call_command("import_habref", "--units", str(broken), "--no-progress")


@pytest.mark.parametrize(
    ("full", "expected"),
    [
        ("Acorus calamus L., 1753", ("Acorus calamus", "L., 1753")),
        ("Plantae Haeckel, 1866", ("Plantae", "Haeckel, 1866")),
        ("Biliphyta ", ("Biliphyta", "")),
        ("Ballota nigra subsp. ruderalis (Sw.) Briq., 1893", ("Ballota nigra subsp. ruderalis", "(Sw.) Briq., 1893")),
        ("Cyperus subg. Mariscus (Vahl) C.B.Clarke, 1884", ("Cyperus subg. Mariscus", "(Vahl) C.B.Clarke, 1884")),
        ("Potentilla x hybrida Wallr., 1822", ("Potentilla x hybrida", "Wallr., 1822")),
        ("Arum italicum x Arum maculatum ", ("Arum italicum x Arum maculatum", "")),
        ("Gonatozygon de Bary, 1858", ("Gonatozygon", "de Bary, 1858")),
        ("Cosmarium decorum (F.Gay) de Toni", ("Cosmarium decorum", "(F.Gay) de Toni")),
        ("x Serapicamptis rana (Frosch) B.Bock, 2012", ("x Serapicamptis rana", "(Frosch) B.Bock, 2012")),
        (
            "Herposiphonia secunda f. tenella (C.Agardh) M.J.Wynne, 1985",
            ("Herposiphonia secunda f. tenella", "(C.Agardh) M.J.Wynne, 1985"),
        ),
    ],
)
def test_taxon_name_without_author(full, expected):
    assert taxon_name_without_author(full) == expected


def test_flora_import_of_the_shared_file(db, shared_data):
    # given the French flora list
    path = shared_data / "taxa" / "flora_fr_taxref_cd_nom_wetland_indicator.csv"
    # when it is imported twice
    first = flora_import(path=path)
    second = flora_import(path=path)
    # then every name is created once, then unchanged
    assert (first.rows, first.created, len(first.rejected)) == (28612, 28612, 0)
    assert (second.created, second.updated, second.unchanged) == (0, 0, 28612)
    acorus = Taxon.objects.get(name="Acorus calamus")
    assert (acorus.author, acorus.cd_ref, acorus.name_normalized) == ("L., 1753", acorus.cd_nom, "acorus calamus")
    assert Taxon.objects.filter(wetland_indicator=True).count() == 673


def test_taxref_import_resolves_synonyms_and_filters_kingdom(db):
    # given a small TAXREF v18 export with a synonym and an animal
    # when the plants are imported
    report = taxref_import(path=DATA / "TAXREFv18_sample.txt", kingdom="Plantae")
    # then synonyms point to their accepted name, the animal is skipped
    assert (report.rows, report.created, report.skipped, len(report.rejected)) == (9, 8, 1, 0)
    humilis = Taxon.objects.get(cd_nom=116763)
    assert (humilis.name, humilis.author, humilis.cd_ref, humilis.rank, humilis.family) == (
        "Quercus humilis", "Mill., 1768", 116759, "ES", "Fagaceae",
    )  # fmt: skip
    assert humilis.is_accepted is False
    assert Taxon.objects.get(cd_nom=116759).vernacular_name == "Chêne pubescent"
    assert not Taxon.objects.filter(cd_nom=3582).exists()
    # and a re-import changes nothing
    again = taxref_import(path=DATA / "TAXREFv18_sample.txt", kingdom="Plantae")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 8)


def test_flora_import_keeps_the_accepted_name_from_taxref(db, tmp_path):
    # given a synonym imported from TAXREF
    taxref_import(path=DATA / "TAXREFv18_sample.txt")
    flora = tmp_path / "flora.csv"
    flora.write_text("CD_NOM;Nom scientifique;Indicatrice ZH\n116763;Quercus humilis Mill., 1768;-\n", encoding="utf-8")
    # when the flora list names it too
    report = flora_import(path=flora)
    # then it is unchanged and still a synonym
    assert (report.created, report.updated, report.unchanged) == (0, 1, 0)  # wetland flag now known
    assert Taxon.objects.get(cd_nom=116763).cd_ref == 116759


def test_taxref_dangling_accepted_name_and_duplicates_are_rejected(db, tmp_path):
    # given a TAXREF file whose synonym points nowhere, with a duplicate CD_NOM
    lines = (DATA / "TAXREFv18_sample.txt").read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2].replace("\t116759\t", "\t999999\t", 1)  # Quercus humilis → missing accepted name
    lines.append(lines[3])  # Quercus ilex again
    broken = tmp_path / "TAXREFv18.txt"
    broken.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # when it is imported
    with pytest.raises(ImportAborted) as excinfo:
        taxref_import(path=broken)
    # then both are located and nothing is stored
    assert_aborted(
        excinfo,
        [("TAXREFv18.txt", 3, "CD_REF", "dangling_accepted_name"), ("TAXREFv18.txt", 11, "CD_NOM", "duplicate_id")],
    )
    assert Taxon.objects.count() == 0


def test_characteristic_species_link_by_normalised_code_and_name(habref_loaded, flora_loaded, shared_data):
    # given HABREF units and the flora
    path = shared_data / "eunis" / "eunis_esy_characteristic_species_2021-06-01.csv"
    # when the EUNIS-ESy lists are imported
    report = characteristic_species_import(path=path)
    # then each row is stored once, linked through T21 ≡ T2-1 and the name without author
    assert (report.rows, report.created, len(report.rejected)) == (14462, 14462, 0)
    assert report.notes == {
        "kept without a HABREF unit (code not in the typology)": 1163,
        "kept without a taxon (name not in the taxa)": 4557,
    }
    row = CharacteristicSpecies.objects.get(habitat_code="T21", species_name="Quercus ilex", kind="diagnostic")
    assert row.habitat.code == "T2-1"
    assert row.taxon.name == "Quercus ilex"
    assert characteristic_species_import(path=path).unchanged == 14462


def test_characteristic_species_bad_values_are_rejected(db, tmp_path):
    # given a list with an unknown species type and a non-numeric value
    bad = tmp_path / "esy.csv"
    bad.write_text(
        "habitat_code,habitat_name,species_type,species,value\nT21,x,Diagnostic,Quercus ilex,40.1\n"
        "T21,x,Typical,Quercus ilex,3\nT21,x,Constant,Quercus ilex,lots\n",
        encoding="utf-8",
    )
    # when it is imported
    with pytest.raises(ImportAborted) as excinfo:
        characteristic_species_import(path=bad)
    # then both rows are located, and nothing is stored
    assert_aborted(excinfo, [("esy.csv", 3, "species_type", "bad_value"), ("esy.csv", 4, "value", "bad_value")])
    assert CharacteristicSpecies.objects.count() == 0
