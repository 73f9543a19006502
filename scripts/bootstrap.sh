#!/usr/bin/env bash
# Idempotent set-up shared by `make demo` and `make test`:
#   system packages -> virtualenv -> PostgreSQL + PostGIS -> Redis -> var/env.sh
# Safe to re-run; every step checks before it acts. Source var/env.sh afterwards for the URLs.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VAR=$ROOT/var
mkdir -p "$VAR/log" "$VAR/run" "$VAR/static" "$VAR/media"
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# --- 1. System packages -------------------------------------------------------------------------
pg_major() {
  local v
  v=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n 1)
  echo "${v:-15}"
}
PG_MAJOR=$(pg_major)
packages=(gdal-bin libgdal-dev libgeos-dev libproj-dev binutils "postgresql-$PG_MAJOR" "postgresql-$PG_MAJOR-postgis-3" redis-server chromium)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    say "Installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$VAR/log/apt.log" 2>&1 \
      || { tail -n 30 "$VAR/log/apt.log"; exit 1; }
  else
    echo "These system packages are missing: ${missing[*]}" >&2
    echo "Install them as root, then run this command again:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

# --- 2. Virtualenv ------------------------------------------------------------------------------
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  say "Creating the virtualenv in .venv"
  "$PY" -m venv .venv
fi
req_hash=$(cat requirements/*.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat .venv/.requirements.sha256 2>/dev/null)" != "$req_hash" ]; then
  say "Installing Python packages (requirements/dev.txt)"
  .venv/bin/pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/pip install -q --disable-pip-version-check -r requirements/dev.txt
  echo "$req_hash" > .venv/.requirements.sha256
fi

# --- 3. PostgreSQL + PostGIS --------------------------------------------------------------------
if [ -z "${DATABASE_URL:-}" ]; then
  if pg_isready -q -h 127.0.0.1 -p 5432 && psql -h 127.0.0.1 -p 5432 -U postgres -tAc 'select 1' postgres >/dev/null 2>&1; then
    export DATABASE_URL=postgis://postgres@127.0.0.1:5432/fieldcollect
  else
    # No usable server on 5432: run a project-local cluster under var/postgres on port 5433.
    PGBIN=/usr/lib/postgresql/$PG_MAJOR/bin
    PGHOME=$VAR/postgres
    if [ "$(id -u)" -eq 0 ]; then
      # PostgreSQL refuses to run as root and runs as the postgres user, who often cannot enter a
      # checkout under /root or a private temporary directory: keep the cluster in postgres's own
      # home then, and point var/postgres at it.
      if [ ! -e "$PGHOME" ] && ! runuser -u postgres -- test -x "$VAR"; then
        real=/var/lib/postgresql/fieldcollect-$(echo "$ROOT" | sha1sum | cut -c1-8)
        mkdir -p "$real" && chown postgres "$real" && ln -s "$real" "$PGHOME"
      fi
      mkdir -p "$PGHOME" && chown postgres "$(readlink -f "$PGHOME")"
      run_pg() { (cd / && runuser -u postgres -- "$@"); }
    else
      mkdir -p "$PGHOME"
      run_pg() { "$@"; }
    fi
    PGREAL=$(readlink -f "$PGHOME")
    if [ ! -s "$PGREAL/data/PG_VERSION" ]; then
      say "Creating a project-local PostgreSQL cluster in $PGREAL"
      run_pg "$PGBIN/initdb" -D "$PGREAL/data" -A trust -U postgres >"$VAR/log/initdb.log"
    fi
    if ! pg_isready -q -h 127.0.0.1 -p 5433; then
      say "Starting the project-local PostgreSQL on 127.0.0.1:5433 (log: var/postgres/postgresql.log)"
      run_pg "$PGBIN/pg_ctl" -D "$PGREAL/data" -l "$PGREAL/postgresql.log" -w \
        -o "-p 5433 -k $PGREAL -c listen_addresses=127.0.0.1" start >/dev/null
    fi
    export DATABASE_URL=postgis://postgres@127.0.0.1:5433/fieldcollect
  fi
fi
.venv/bin/python scripts/ensure_database.py

# --- 4. Redis -----------------------------------------------------------------------------------
if [ -z "${REDIS_URL:-}" ]; then
  export REDIS_URL=redis://127.0.0.1:6379/0
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    say "Starting Redis on 127.0.0.1:6379"
    mkdir -p "$VAR/redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
      --dir "$VAR/redis" --logfile "$VAR/log/redis.log"
    for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
fi

cat > "$VAR/env.sh" <<ENV
export DATABASE_URL=$DATABASE_URL
export REDIS_URL=$REDIS_URL
ENV
