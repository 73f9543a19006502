#!/usr/bin/env bash
# Stop the demo's web server and Celery worker (started by `make demo`).
cd "$(dirname "$0")/.."
for name in web celery; do
  pidfile=var/run/$name.pid
  if [ -f "$pidfile" ]; then
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null && echo "stopped $name ($pid)"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  fi
done
