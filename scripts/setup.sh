#!/usr/bin/env bash
# Installs what dockline, its demo and its tests need on Debian 12 (as root), and the package
# itself into ./.venv. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(python3-venv iproute2 nftables iputils-ping busybox-static procps containernetworking-plugins)
# The tests' short benchmark measures the data path too (iperf3, in throwaway namespaces only).
case "${1:-}" in *test*) packages+=(iperf3) ;; esac
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The venv is made from the distribution's interpreter when there is one (/usr/bin/python3), not
# from whatever `python3` comes first on PATH: Debian's build (PGO and LTO) starts dockline's
# commands faster than a pyenv build (`network connect` p50 24 ms vs 32 ms here, issue 3). A venv
# made from another interpreter is made again.
python="${DOCKLINE_PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}"
# Where venv records the interpreter (pyvenv.cfg `home`), computed as venv computes it.
home="$("$python" -c 'import os, sys; print(os.path.dirname(os.path.abspath(sys._base_executable)))')"
if [ -x .venv/bin/python ] && ! grep -qx "home = $home" .venv/pyvenv.cfg 2>/dev/null; then
  echo "setup: remaking .venv from $python"
  rm -rf .venv
fi
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
extra="${1:-}"
.venv/bin/pip install -q --disable-pip-version-check -e ".${extra}"
# The venv's own setuptools (ensurepip puts it there) is not needed: pip builds dockline in an
# isolated environment. Its distutils-precedence.pth imports a module at every interpreter start,
# ~0.5-1 ms of every dockline command (issue 3).
if [ -e .venv/lib/python3*/site-packages/distutils-precedence.pth ]; then
  .venv/bin/pip uninstall -y -q --disable-pip-version-check setuptools
fi
# Compile the bytecode now: with PYTHONDONTWRITEBYTECODE set, every CLI start would otherwise
# recompile every module (tens of ms).
.venv/bin/python -m compileall -q src >/dev/null
