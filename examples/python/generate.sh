#!/usr/bin/env bash
# Generates the Python stubs for the CityServe API from the repository's protos into gen/.
# Run it with the virtualenv's python (or activate the venv first); PYTHON overrides which one.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
proto_dir="$(cd "$here/../../proto" && pwd)"
python="${PYTHON:-python}"
if ! command -v "$python" >/dev/null 2>&1; then python=python3; fi

# The well-known types (google/protobuf/*.proto) ship inside grpcio-tools; google/rpc/status.proto
# (the per-item statuses of BatchSubmitFeedback) is vendored beside ours and generated with them.
wkt="$("$python" -c 'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))')"

rm -rf "$here/gen"
mkdir -p "$here/gen"
"$python" -m grpc_tools.protoc \
  -I "$proto_dir" -I "$wkt" \
  --python_out="$here/gen" --pyi_out="$here/gen" --grpc_python_out="$here/gen" \
  "$proto_dir"/cityserve/v1/*.proto "$proto_dir"/google/rpc/*.proto
echo "generated $(find "$here/gen" -name '*.py' | wc -l) Python modules into $here/gen"
