import datetime as dt
import json
import uuid
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from psycopg import sql

from fieldcollect.services.backups import BackupError, DatabaseTarget, backup_restore, table_row_counts

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fresh_database():
    """An empty database next to the test database, dropped afterwards."""
    source = DatabaseTarget.from_django(connection.settings_dict)
    name = f"restore_{uuid.uuid4().hex[:10]}"
    admin = DatabaseTarget(name="postgres", host=source.host, port=source.port, user=source.user,
                           password=source.password)  # fmt: skip
    with admin.connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield DatabaseTarget(name=name, host=source.host, port=source.port, user=source.user, password=source.password)
    with admin.connect() as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def media(tmp_path, settings):
    root = tmp_path / "media"
    (root / "photos" / "ab").mkdir(parents=True)
    (root / "photos" / "ab" / "abcdef.jpg").write_bytes(b"\xff\xd8\xff" + bytes(range(256)) * 40)
    (root / "maps").mkdir()
    (root / "maps" / "run-1.tif").write_bytes(b"II*\x00" + b"\x01" * 5000)
    settings.MEDIA_ROOT = root
    return root


def test_backup_then_restore_into_a_fresh_database_gives_identical_counts_and_hashes(
    tmp_path, media, fresh_database, shared_data, botanist
):
    # given a database with a campaign, users and tokens, and media files
    call_command("demo_setup", data_dir=str(shared_data), no_model=True)
    source_counts = table_row_counts(DatabaseTarget.from_django(connection.settings_dict))
    assert source_counts["fieldcollect_campaign"] == 1 and source_counts["fieldcollect_user"] == 5
    # when it is backed up and restored elsewhere
    call_command("backup", str(tmp_path / "bk"))
    manifest = json.loads((tmp_path / "bk" / "manifest.json").read_text())
    restored_media = tmp_path / "restored-media"
    report = backup_restore(backup=tmp_path / "bk", target=fresh_database, media_root=restored_media)
    # then every table has the same number of rows and every media file the same hash
    assert table_row_counts(fresh_database) == source_counts
    assert manifest["row_counts"] == source_counts
    # (the demo's synthetic relevés add their photos to the two files of the fixture)
    assert report["media_files"] == sum(1 for p in media.rglob("*") if p.is_file()) >= 2
    assert (restored_media / "photos/ab/abcdef.jpg").read_bytes() == (media / "photos/ab/abcdef.jpg").read_bytes()
    with fresh_database.connect() as conn:
        area = conn.execute("SELECT ST_Area(region) / 1e6 FROM fieldcollect_campaign").fetchone()[0]
        assert 71_000 < area < 74_500  # geometry survived with its SRID


def test_a_corrupt_backup_is_refused_before_anything_is_touched(tmp_path, media, fresh_database):
    call_command("backup", str(tmp_path / "bk"))
    dump = tmp_path / "bk" / "database.dump"
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    with fresh_database.connect() as conn:
        conn.execute("CREATE TABLE keep_me (id int)")
    with pytest.raises(BackupError, match="checksum mismatch"):
        backup_restore(backup=tmp_path / "bk", target=fresh_database, media_root=tmp_path / "m2")
    with fresh_database.connect() as conn:
        assert conn.execute("SELECT to_regclass('keep_me')").fetchone()[0] == "keep_me"
    assert not (tmp_path / "m2").exists()
    with pytest.raises(CommandError, match="checksum mismatch"):
        call_command("restore", str(tmp_path / "bk"), verify_only=True)


def test_backup_refuses_a_non_empty_directory_and_restore_a_missing_manifest(tmp_path, media):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("precious")
    with pytest.raises(CommandError, match="not empty"):
        call_command("backup", str(tmp_path / "full"))
    assert (tmp_path / "full" / "x").read_text() == "precious"
    with pytest.raises(CommandError, match="unreadable manifest"):
        call_command("restore", str(tmp_path / "nothing"), verify_only=True)


def test_restore_refuses_path_traversal_in_the_media_archive(tmp_path, media, fresh_database):
    import hashlib
    import tarfile

    call_command("backup", str(tmp_path / "bk"))
    evil = tmp_path / "bk" / "media.tar"
    with tarfile.open(evil, "w") as archive:
        payload = tmp_path / "payload"
        payload.write_text("owned")
        archive.add(payload, arcname="../../escaped.txt")
    manifest_path = tmp_path / "bk" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["files"]["media.tar"]["sha256"] = hashlib.sha256(evil.read_bytes()).hexdigest()
    manifest_path.write_text(json.dumps(manifest))
    with fresh_database.connect() as conn:
        conn.execute("CREATE TABLE keep_me (id int)")
    with pytest.raises(BackupError, match="unsafe member refused"):
        backup_restore(backup=tmp_path / "bk", target=fresh_database, media_root=tmp_path / "m3" / "inner")
    assert not (tmp_path / "escaped.txt").exists()
    assert not Path(tmp_path / "m3").exists()
    with fresh_database.connect() as conn:  # the target database was not touched either
        assert conn.execute("SELECT to_regclass('keep_me')").fetchone()[0] == "keep_me"


def test_backup_dates_are_timezone_aware(tmp_path, media):
    call_command("backup", str(tmp_path / "bk"))
    created = dt.datetime.fromisoformat(json.loads((tmp_path / "bk" / "manifest.json").read_text())["created_at"])
    assert created.tzinfo is not None
