# Sourced by the other scripts and .ci/run: one cargo target dir and one LIBTORCH for every cargo
# call (a different LIBTORCH value makes torch-sys rebuild).
export WARMSTART_CACHE="${WARMSTART_CACHE:-$HOME/.cache/warmstart}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$WARMSTART_CACHE/target}"
export LIBTORCH="${LIBTORCH:-$("$(dirname "${BASH_SOURCE[0]}")/install-libtorch")}"
export WARMSTART_PYTHON="${WARMSTART_PYTHON:-$WARMSTART_CACHE/py/bin/python}"
