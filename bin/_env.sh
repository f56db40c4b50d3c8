# Shared by bin/run and bin/test: a virtualenv on Python 3.12 and, for the
# browser tests, Debian's chromium.

python_for_venv() {
  local candidate
  for candidate in "${PYTHON:-}" python3.12 "$(command -v pyenv >/dev/null && pyenv prefix 3.12.1 2>/dev/null)/bin/python3"; do
    [[ -n "$candidate" ]] || continue
    if "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] < (3, 12))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  # pyenv shims honour .python-version.
  if python3 -c 'import sys; sys.exit(sys.version_info[:2] < (3, 12))' 2>/dev/null; then
    echo python3; return 0
  fi
  echo "Python 3.12 or newer is needed (see .python-version)" >&2
  return 1
}

ensure_venv() {
  local requirements="$1" stamp=".venv/.installed-$(basename "$1" .txt)"
  if [[ ! -x .venv/bin/python ]]; then
    "$(python_for_venv)" -m venv .venv
  fi
  # Reinstall only when a requirements file changed.
  if [[ ! -f "$stamp" || requirements.txt -nt "$stamp" || "$requirements" -nt "$stamp" ]]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$requirements"
    touch "$stamp"
  fi
}

ensure_chromium() {
  command -v chromium >/dev/null && return 0
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    echo "installing Debian's chromium for the browser tests (about a minute)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-liberation >/dev/null
  else
    echo "chromium is not installed: browser tests will be skipped" >&2
  fi
}
