#!/usr/bin/env bash
# Install (or upgrade) edge-asr as a systemd service: venv in /opt/edge-asr, unit, example config.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: sudo systemd/install.sh [options]

Installs edge-asr into a virtual environment and runs it as the systemd service edge-asr.
Safe to run again: it upgrades the package, refreshes the unit, and never overwrites an
existing /etc/edge-asr/config.toml (the shipped example is always put beside it as
config.toml.example).

Options:
  --wheel FILE      install this edge-asr wheel (default: the repository this script is in)
  --find-links DIR  also take wheels from DIR; with --offline, only from DIR
  --offline         never contact a package index (air-gapped sites: pre-fetch with
                    docker/fetch-wheels and pass --find-links)
  --extras LIST     runtime extras (default by CPU: armv7l -> tflite; aarch64/x86_64 ->
                    onnx,tflite)
  --prefix DIR      install root (default: /opt/edge-asr; the venv is DIR/venv)
  --no-apt          do not apt-get the Debian packages (python3-venv, python3-numpy,
                    python3-pyaudio)
  --no-start        install and enable, but do not start or restart the service
  -h, --help        this text

numpy and PyAudio come from Debian (the venv sees system site-packages): PyPI has no armv7l
numpy wheel and PyAudio is source-only there.
EOF
}

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
wheel="" find_links="" offline=0 extras="" prefix="/opt/edge-asr" use_apt=1 start=1
while (($#)); do
    case "$1" in
        --wheel) wheel="$2"; shift 2 ;;
        --find-links) find_links="$2"; shift 2 ;;
        --offline) offline=1; shift ;;
        --extras) extras="$2"; shift 2 ;;
        --prefix) prefix="$2"; shift 2 ;;
        --no-apt) use_apt=0; shift ;;
        --no-start) start=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
done

log() { printf 'edge-asr install: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
[[ $EUID -eq 0 ]] || die "run as root (sudo)"

unit_src="$here/edge-asr.service"
config_src="$here/config.toml"
unit_dst=/etc/systemd/system/edge-asr.service
config_dir=/etc/edge-asr
venv="$prefix/venv"
[[ -f "$unit_src" && -f "$config_src" ]] || die "missing $unit_src or $config_src"

if [[ -z "$extras" ]]; then
    case "$(uname -m)" in
        armv7l|armv6l|armhf) extras="tflite" ;;   # onnxruntime has no 32-bit ARM wheel
        aarch64|arm64|x86_64) extras="onnx,tflite" ;;
        *) die "unsupported CPU $(uname -m); pass --extras" ;;
    esac
fi

if ((use_apt)) && command -v apt-get >/dev/null; then
    need=()
    for p in python3 python3-venv python3-numpy python3-pyaudio ca-certificates; do
        dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || need+=("$p")
    done
    if ((${#need[@]})); then
        log "apt-get install ${need[*]}"
        if ((!offline)); then apt-get update -qq; fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
    fi
fi
python3 -c 'import sys; assert sys.version_info >= (3, 11), sys.version' \
    || die "edge-asr needs Python >= 3.11 (Debian bookworm / Raspberry Pi OS bookworm)"

# The venv sees Debian's numpy and PyAudio; pip only adds what is missing.
if [[ ! -x "$venv/bin/python" ]]; then
    log "creating $venv"
    install -d -m 0755 "$prefix"
    python3 -m venv --system-site-packages "$venv"
fi

pip_args=(--disable-pip-version-check --upgrade --upgrade-strategy only-if-needed)
[[ -n "$find_links" ]] && pip_args+=(--find-links "$find_links")
((offline)) && pip_args+=(--no-index)
if [[ -n "$wheel" ]]; then
    source="$(realpath "$wheel")"
else
    [[ -f "$repo/pyproject.toml" ]] || die "no --wheel given and $repo is not the edge-asr repository"
    source="$repo"
fi
log "pip install ${source}[$extras] into $venv"
"$venv/bin/pip" install "${pip_args[@]}" "${source}[$extras]"
[[ -x "$venv/bin/edge-asr" ]] || die "$venv/bin/edge-asr was not installed"
install -m 0644 "$repo/README.md" "$prefix/README.md" 2>/dev/null || true

# Unit: the shipped one, with ExecStart following --prefix.
tmp_unit="$(mktemp)"
trap 'rm -f "$tmp_unit"' EXIT
sed "s|/opt/edge-asr/venv/|$venv/|g; s|file:///opt/edge-asr/|file://$prefix/|g" "$unit_src" >"$tmp_unit"
install -m 0644 "$tmp_unit" "$unit_dst"
log "installed $unit_dst"

install -d -m 0755 "$config_dir"
install -m 0644 "$config_src" "$config_dir/config.toml.example"
if [[ ! -e "$config_dir/config.toml" ]]; then
    install -m 0644 "$config_src" "$config_dir/config.toml"
    log "installed $config_dir/config.toml (edit mqtt.host, then: systemctl restart edge-asr)"
else
    log "kept existing $config_dir/config.toml"
fi
"$venv/bin/edge-asr" config check --config "$config_dir/config.toml" \
    || die "$config_dir/config.toml is invalid (see the line above); fix it and run again"

if [[ ! -d /run/systemd/system ]]; then
    log "systemd is not running here: unit installed, not enabled or started"
    exit 0
fi
was_active=0
systemctl is-active --quiet edge-asr && was_active=1
systemctl daemon-reload
if ((start)); then
    systemctl enable --now edge-asr
    # enable --now leaves a running old version alone: restart it onto the new one.
    ((was_active)) && systemctl restart edge-asr
    systemctl --no-pager --lines=5 status edge-asr || true
else
    systemctl enable edge-asr
fi
log "done"
