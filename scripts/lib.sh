# Shared helpers for scripts/run and scripts/test (sourced, not executed).
# Everything here is idempotent: a second run on a set-up machine does almost nothing.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Run a command as root (directly, or through sudo when available).
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else die "need root to run: $*"
    fi
}

_apt_updated=""
apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found; please install: $*"
    if [ -z "$_apt_updated" ]; then
        log "apt-get update"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        _apt_updated=1
    fi
    log "apt-get install $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# ensure_venv [EXTRAS]: create .venv if missing and `pip install -e .[EXTRAS]` when
# pyproject.toml changed since the last install with those extras (stamp file in .venv).
ensure_venv() {
    local extras="${1:-}" target="." stamp digest
    [ -n "$extras" ] && target=".[$extras]"
    if [ ! -x "$PY" ]; then
        log "creating virtualenv in .venv"
        if ! python3 -m venv "$VENV" 2>/dev/null; then
            # Debian's python3 ships venv/ensurepip separately.
            rm -rf "$VENV"
            apt_install python3-venv
            python3 -m venv "$VENV"
        fi
    fi
    stamp="$VENV/.whatrack-installed${extras:+-$extras}"
    digest="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$digest" ]; then
        log "pip install -e '$target' (pyproject.toml changed)"
        (cd "$ROOT" && "$PY" -m pip install --quiet --disable-pip-version-check -e "$target")
        echo "$digest" > "$stamp"
        # The test extras include everything the plain install has.
        [ -n "$extras" ] && echo "$digest" > "$VENV/.whatrack-installed"
    fi
    export PATH="$VENV/bin:$PATH"
    export VIRTUAL_ENV="$VENV"
}

# Compile pt-BR/en catalogs (.po -> .mo, .mo files are not committed); quiet no-op without any.
compile_translations() {
    if compgen -G "$ROOT/whatrack/translations/*/LC_MESSAGES/*.po" >/dev/null; then
        (cd "$ROOT" && "$VENV/bin/pybabel" --quiet compile -d whatrack/translations)
    fi
}

# Front-end vendor assets (SortableJS ...): see scripts/vendor-assets.
install_vendor_assets() {
    [ -f "$ROOT/package.json" ] || return 0
    command -v npm >/dev/null 2>&1 || apt_install nodejs npm
    "$ROOT/scripts/vendor-assets"
}
