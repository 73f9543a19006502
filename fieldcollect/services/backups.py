"""Backups: a PostgreSQL dump plus the media files, with a manifest of SHA-256 checksums and row counts.

A backup is a directory::

    manifest.json    format version, created_at, database name, per-file sha256 and size, table row counts
    database.dump    pg_dump custom format (restorable with pg_restore, also by hand)
    media.tar        the media files (photos, thumbnails, produced maps), as stored

``backup_restore`` verifies every checksum before touching the target, restores into the database it is
given (which should be empty or disposable), then checks the restored row counts against the manifest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

FORMAT_VERSION = 1
CHUNK = 1 << 20


class BackupError(RuntimeError):
    """A backup or restore cannot proceed; nothing was changed when it is raised before restoring."""


@dataclass(frozen=True)
class DatabaseTarget:
    name: str
    host: str | None = None
    port: str | None = None
    user: str | None = None
    password: str | None = None

    @classmethod
    def from_django(cls, settings_dict: dict[str, Any]) -> DatabaseTarget:
        return cls(
            name=settings_dict["NAME"],
            host=settings_dict.get("HOST") or None,
            port=str(settings_dict["PORT"]) if settings_dict.get("PORT") else None,
            user=settings_dict.get("USER") or None,
            password=settings_dict.get("PASSWORD") or None,
        )

    def libpq_env(self) -> dict[str, str]:
        env = dict(os.environ)
        for key, value in {"PGHOST": self.host, "PGPORT": self.port, "PGUSER": self.user}.items():
            if value:
                env[key] = value
        if self.password:
            env["PGPASSWORD"] = self.password  # via the environment, never on a command line
        return env

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(
            dbname=self.name, host=self.host, port=self.port, user=self.user, password=self.password, autocommit=True
        )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def table_row_counts(target: DatabaseTarget) -> dict[str, int]:
    """Exact row counts of every table of the public schema (PostGIS's own tables excluded)."""
    with target.connect() as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'spatial_ref_sys' "
                "ORDER BY tablename"
            )
        ]
        counts = {}
        for table in tables:
            row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
            counts[table] = int(row[0]) if row else 0
    return counts


def _run(command: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise BackupError(f"{command[0]} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"{name} not found: install the PostgreSQL client (postgresql-client)")
    return path


def backup_create(*, target: DatabaseTarget, media_root: Path, output: Path) -> dict[str, Any]:
    """Write a consistent dump of ``target`` and a copy of ``media_root`` into the new directory ``output``."""
    if output.exists() and any(output.iterdir()):
        raise BackupError(f"{output} exists and is not empty; choose a new directory")
    output.mkdir(parents=True, exist_ok=True)
    env = target.libpq_env()
    counts = table_row_counts(target)
    # pg_dump takes one snapshot, so the dump is consistent even while tablets keep pushing; the counts
    # above may differ by rows committed in between, which is why restore compares against the dump itself.
    _run([_tool("pg_dump"), "--format=custom", "--no-owner", f"--file={output / 'database.dump'}", target.name], env)
    with tarfile.open(output / "media.tar", "w") as archive:
        if media_root.is_dir():
            for path in sorted(media_root.rglob("*")):
                if path.is_file() and not path.is_symlink():
                    archive.add(path, arcname=str(path.relative_to(media_root)), recursive=False)
    dump_counts = _dump_row_counts(output / "database.dump", env) or counts
    manifest = {
        "format": FORMAT_VERSION,
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "database": target.name,
        "files": {
            name: {"sha256": file_sha256(output / name), "bytes": (output / name).stat().st_size}
            for name in ("database.dump", "media.tar")
        },
        "media_files": _media_hashes(media_root),
        "row_counts": dump_counts,
    }
    (output / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return manifest


def _dump_row_counts(dump: Path, env: dict[str, str]) -> dict[str, int] | None:
    """Row counts as the dump holds them: restore the data section's COPY statements counting lines."""
    result = subprocess.run(  # noqa: S603
        [_tool("pg_restore"), "--data-only", "--file=-", str(dump)], env=env, capture_output=True, check=False
    )
    if result.returncode != 0:
        return None
    counts: dict[str, int] = {}
    current: str | None = None
    for line in result.stdout.splitlines():
        if current is None:
            if line.startswith(b"COPY public."):
                current = line.split(b" ")[1].split(b".", 1)[1].decode().strip('"')
                counts[current] = 0
        elif line == b"\\.":
            current = None
        else:
            counts[current] += 1
    return {table: count for table, count in sorted(counts.items()) if table != "spatial_ref_sys"}


def _media_hashes(media_root: Path) -> dict[str, str]:
    if not media_root.is_dir():
        return {}
    return {
        str(path.relative_to(media_root)): file_sha256(path)
        for path in sorted(media_root.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


def backup_verify(*, backup: Path) -> dict[str, Any]:
    """Check the manifest's checksums; raise BackupError naming the first file that does not match."""
    manifest_path = backup / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as exc:
        raise BackupError(f"{manifest_path}: unreadable manifest ({exc})") from exc
    if manifest.get("format") != FORMAT_VERSION:
        raise BackupError(f"{manifest_path}: unsupported backup format {manifest.get('format')!r}")
    for name, expected in manifest["files"].items():
        path = backup / name
        if not path.is_file():
            raise BackupError(f"{path}: missing from the backup")
        if file_sha256(path) != expected["sha256"]:
            raise BackupError(f"{path}: checksum mismatch, the backup is corrupt")
    with tarfile.open(backup / "media.tar") as archive:
        for member in archive.getmembers():
            try:
                # The "data" filter refuses absolute paths, "..", links out of the tree and device files.
                tarfile.data_filter(member, "/nonexistent-restore-root")
            except tarfile.FilterError as exc:
                raise BackupError(f"{backup / 'media.tar'}: unsafe member refused ({exc})") from exc
    return manifest


def backup_restore(*, backup: Path, target: DatabaseTarget, media_root: Path) -> dict[str, Any]:
    """Verify, then restore the dump into ``target`` and the media under ``media_root``; return a report."""
    manifest = backup_verify(backup=backup)
    env = target.libpq_env()
    with target.connect() as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    _run(
        [_tool("pg_restore"), "--no-owner", "--clean", "--if-exists", "--exit-on-error", f"--dbname={target.name}",
         str(backup / "database.dump")],
        env,
    )  # fmt: skip
    media_root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(backup / "media.tar") as archive:
        archive.extractall(media_root, filter="data")
    restored_counts = table_row_counts(target)
    expected_counts = manifest["row_counts"]
    count_mismatches = {
        table: (expected, restored_counts.get(table))
        for table, expected in expected_counts.items()
        if restored_counts.get(table) != expected
    }
    restored_media = _media_hashes(media_root)
    media_mismatches = sorted(
        name for name, digest in manifest["media_files"].items() if restored_media.get(name) != digest
    )
    if count_mismatches or media_mismatches:
        raise BackupError(f"restore incomplete: rows {count_mismatches}, media {media_mismatches[:10]}")
    return {"tables": len(restored_counts), "rows": sum(restored_counts.values()), "media_files": len(restored_media)}
