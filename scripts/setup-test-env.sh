#!/usr/bin/env bash
# Prepare a Debian machine (root, no systemd, no Docker Hub) for sentikit's Docker tests.
# Idempotent: each step checks first and does nothing when its result is already there.
#   1. apt packages: Docker engine, local registry, mmdebstrap, htpasswd, zstd, Node.js, wrk, the
#      Java 17 runtime Spark runs on (tests/spark: PySpark local mode and a standalone cluster), and
#      tmux (tests/test_label.py drives `sentikit label` in a real terminal), and chromium with its
#      chromedriver (tests/browser drive the pages / and /monitor in a real browser through Selenium)
#   2. dockerd, started in the background if no engine answers (log: /var/log/dockerd.log)
#   3. the stand-in base image python:3.11-slim (mmdebstrap -> docker import), cached as a
#      zstd tarball under $SENTIKIT_CI_CACHE (default /var/cache/sentikit-ci) between runs
# Recipe and measurements: ../shared/notes/docker-in-ci.md. Prints each step and its duration.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
BASE_IMAGE="${SENTIKIT_CI_BASE_IMAGE:-python:3.11-slim}"
CACHE_DIR="${SENTIKIT_CI_CACHE:-/var/cache/sentikit-ci}"
BASE_TARBALL="$CACHE_DIR/$(printf '%s' "$BASE_IMAGE" | tr ':/' '--').tar.zst"
DOCKERD_LOG=/var/log/dockerd.log
PACKAGES=(docker.io docker-registry mmdebstrap apache2-utils zstd nodejs wrk openjdk-17-jre-headless tmux
          chromium chromium-driver)

started=$(date +%s.%N)
step_started=$started

log() { printf 'setup-test-env: %s\n' "$*" >&2; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
done_step() { log "$1 ($(elapsed "$step_started") s)"; step_started=$(date +%s.%N); }

if [ "$(id -u)" -ne 0 ]; then
  log "must run as root (it installs packages and starts dockerd)"
  exit 1
fi

# --- 1. packages ------------------------------------------------------------------------
missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  apt-get update -qq
  # Recommends (apparmor, criu, cgroupfs-mount, ...) are not needed without systemd/AppArmor.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  done_step "installed ${missing[*]}"
else
  done_step "packages already installed"
fi

# npm installs the official Azure JavaScript client for tests/serve/test_azure_clients.py. Some Node.js
# builds ship it (nodesource); Debian's nodejs does not, so its npm package is added then.
if ! command -v npm >/dev/null 2>&1; then
  log "installing npm"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends npm >/dev/null
  done_step "installed npm"
fi

# --- 2. Docker engine -------------------------------------------------------------------
# Plain `docker info` works with both CLIs on this kind of machine: the preinstalled
# /usr/local/bin/docker (28.x) and Debian's /usr/bin/docker (20.10) talking to dockerd 20.10.
engine_up() { docker info >/dev/null 2>&1; }
wait_for_engine() {
  for _ in $(seq 150); do engine_up && return 0; sleep 0.2; done
  return 1
}
dockerd_running() {
  [ -s /var/run/docker.pid ] && kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null
}

if engine_up; then
  done_step "Docker engine already running"
elif dockerd_running; then
  # Never start a second dockerd: it would fight over docker0 and /var/lib/docker.
  log "dockerd (pid $(cat /var/run/docker.pid)) is starting; waiting for it"
  wait_for_engine || { log "dockerd does not answer; last lines of $DOCKERD_LOG:"; tail -30 "$DOCKERD_LOG" >&2; exit 1; }
  done_step "Docker engine ready"
else
  log "starting dockerd (log: $DOCKERD_LOG)"
  # setsid + redirected fds: dockerd must not hold CI's stdout/stderr open after we exit.
  setsid dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
  wait_for_engine || { log "dockerd did not come up within 30 s; last lines of $DOCKERD_LOG:"; tail -30 "$DOCKERD_LOG" >&2; exit 1; }
  done_step "started dockerd (pid $(cat /var/run/docker.pid))"
fi

# --- 3. stand-in base image -------------------------------------------------------------
if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  done_step "base image $BASE_IMAGE already present"
elif [ -s "$BASE_TARBALL" ] && zstd -dc "$BASE_TARBALL" | docker load -q >/dev/null \
     && docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  done_step "loaded $BASE_IMAGE from $BASE_TARBALL"
else
  log "building the stand-in for $BASE_IMAGE with mmdebstrap (Debian bookworm; ~1 min)"
  # Debian's python3-venv (python3.11 + ensurepip wheels + CA certificates) and netbase,
  # without docs/man/locales, with merged /usr (otherwise usrmerge drags in perl).
  if ! mmdebstrap --quiet --variant=minbase --include=python3-venv,netbase \
      --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
      --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
      --dpkgopt='path-include=/usr/share/doc/*/copyright' \
      --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
      --customize-hook='ln -sf /usr/bin/python3 "$1/usr/local/bin/python"' \
      bookworm - http://deb.debian.org/debian 2>/var/log/mmdebstrap.log \
    | docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' - "$BASE_IMAGE" >/dev/null; then
    docker image rm -f "$BASE_IMAGE" >/dev/null 2>&1 || true  # never keep a half-imported base
    log "building the base image failed; last lines of /var/log/mmdebstrap.log:"
    tail -30 /var/log/mmdebstrap.log >&2
    exit 1
  fi
  done_step "built $BASE_IMAGE"
  mkdir -p "$CACHE_DIR"
  docker save "$BASE_IMAGE" | zstd -q -T0 -3 -o "$BASE_TARBALL.tmp" && mv "$BASE_TARBALL.tmp" "$BASE_TARBALL"
  done_step "cached $BASE_IMAGE as $BASE_TARBALL ($(du -h "$BASE_TARBALL" | cut -f1))"
fi

log "ready in $(elapsed "$started") s"
