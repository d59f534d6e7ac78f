#!/usr/bin/env bash
# Create .venv (Python 3.11+) and install polyresearch into it, editable.
# Usage: bash scripts/setup.sh [EXTRAS]   e.g. "dev" (tests + linters); default: none.
# Needs only Python 3.11+ (and apt, to add the venv module where a distro split it out).
# In "dev"/"test" mode it also installs Debian's chromium (browser tests, kaleido exports) when
# apt-get is there, we are root and /usr/bin/chromium is missing. Never `playwright install`:
# Playwright drives the system chromium (executable_path), no browser download.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
"$PYTHON" - <<'PY' || { echo "polyresearch needs Python >= 3.11 (set PYTHON=...)" >&2; exit 1; }
import sys
sys.exit(0 if sys.version_info >= (3, 11) else 1)
PY
if [ ! -x .venv/bin/python ]; then
  if ! "$PYTHON" -m venv .venv 2>/dev/null; then
    # Debian/Ubuntu ship venv separately; we run as root on CI machines.
    rm -rf .venv
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    "$PYTHON" -m venv .venv
  fi
fi
.venv/bin/python -m pip install -q --upgrade pip
extras="${1:-}"
if [ -n "$extras" ]; then target=".[${extras}]"; else target="."; fi
.venv/bin/python -m pip install -q -e "$target"

case ",${extras}," in
  *,dev,*|*,test,*)
    # The notebook tests also run every notebook in a kernel with the oldest ipykernel we
    # support (pyproject: ipykernel>=6.29): 7.x changed how the kernel runs its threads and
    # event loop, and users on VS Code, Colab or older JupyterHubs still run 6.x. The overlay
    # venv holds only that ipykernel; a .pth makes .venv's packages (polyresearch included)
    # importable behind it. tests/_kernels.py gives it a kernelspec.
    IPYKERNEL6=6.29.5
    purelib() { "$1" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }
    link="import site; site.addsitedir('$(purelib .venv/bin/python)')"
    if [ ! -f ".venv-ipykernel6/ready-$IPYKERNEL6" ] \
      || [ "$(cat .venv-ipykernel6/ready-$IPYKERNEL6)" != "$link" ]; then
      rm -rf .venv-ipykernel6
      .venv/bin/python -m venv .venv-ipykernel6
      echo "$link" > "$(purelib .venv-ipykernel6/bin/python)/_polyresearch_venv.pth"
      .venv-ipykernel6/bin/python -m pip install -q "ipykernel==$IPYKERNEL6"
      echo "$link" > ".venv-ipykernel6/ready-$IPYKERNEL6"  # rebuilt if .venv moves
    fi
    if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
      echo "installing Debian chromium (browser tests)"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    elif [ ! -x /usr/bin/chromium ]; then
      echo "note: /usr/bin/chromium is missing; browser tests will be skipped" \
        "(install it: apt-get install chromium)" >&2
    fi
    ;;
esac
