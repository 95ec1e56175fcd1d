"""Checks everything under deploy/ (run by deploy/check.sh, inside its virtualenv).

1. Every YAML/JSON file under deploy/ parses.
2. Both kustomize overlays render (with the real kustomize library: pykustomize, or a `kustomize`
   / `kubectl kustomize` binary when pykustomize cannot load).
3. Every rendered object validates, strictly (unknown fields are errors), against the Kubernetes
   JSON schemas bundled by kubernetes-validate, for the oldest and the newest version we support.
4. Cross-checks the schemas cannot see: ConfigMap keys are variables src/config.rs reads, the
   termination grace period exceeds the shutdown grace, probes are gRPC on 50051, containers are
   non-root with a read-only root FS, images are set by the overlays, the collector's pipelines
   name defined components, the dashboard queries only metrics the server exports, and the
   Dockerfile exposes and runs what docs/deploy.md says.

Silent on success; prints one line per problem and exits 1 otherwise. `-v` lists what it did.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import yaml

DEPLOY = Path(__file__).resolve().parent
ROOT = DEPLOY.parent
OVERLAYS = ["dev", "production"]
# Oldest Kubernetes we support (native gRPC probes are GA since 1.27) and the newest schemas.
K8S_VERSIONS = ["1.29", kubernetes_validate.latest_version()]
VERBOSE = "-v" in sys.argv[1:]
problems: list[str] = []


def fail(msg: str) -> None:
    problems.append(msg)


def info(msg: str) -> None:
    if VERBOSE:
        print(msg)


def rel(p: Path) -> str:
    return str(p.relative_to(ROOT))


# ---- 1. parse -----------------------------------------------------------------------------------
def parse_all() -> dict[Path, list]:
    docs: dict[Path, list] = {}
    for path in sorted(DEPLOY.rglob("*")):
        if ".venv" in path.parts or not path.is_file():
            continue
        try:
            if path.suffix in (".yaml", ".yml"):
                docs[path] = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
            elif path.suffix == ".json":
                docs[path] = [json.loads(path.read_text())]
            else:
                continue
        except (yaml.YAMLError, json.JSONDecodeError, UnicodeDecodeError) as e:
            fail(f"{rel(path)}: does not parse: {e}")
            continue
        info(f"parsed {rel(path)}")
    return docs


# ---- 2. render ----------------------------------------------------------------------------------
def renderer():
    """Returns (name, render(path) -> yaml text)."""
    try:
        import pykustomize

        pykustomize.native_version()  # loads the bundled Go library

        def render(path: Path) -> str:
            return asyncio.run(pykustomize.build(str(path))).yaml

        return f"pykustomize {pykustomize.__version__}", render
    except Exception as e:  # not installable/loadable on this platform: try a binary
        why = str(e)
    for cmd in (["kustomize", "build"], ["kubectl", "kustomize"]):
        if shutil.which(cmd[0]):

            def render(path: Path, cmd=cmd) -> str:
                out = subprocess.run([*cmd, str(path)], capture_output=True, text=True)
                if out.returncode != 0:
                    raise RuntimeError(out.stderr.strip())
                return out.stdout

            return " ".join(cmd), render
    print(f"deploy/check.sh: no kustomize renderer: pykustomize failed ({why}) and neither "
          "`kustomize` nor `kubectl` is on PATH", file=sys.stderr)
    sys.exit(2)


def render_overlays() -> dict[str, list[dict]]:
    name, render = renderer()
    info(f"rendering with {name}")
    rendered = {}
    for overlay in OVERLAYS:
        path = DEPLOY / "k8s" / "overlays" / overlay
        try:
            objs = [d for d in yaml.safe_load_all(render(path)) if d]
        except Exception as e:
            fail(f"deploy/k8s/overlays/{overlay}: kustomize build failed: {e}")
            continue
        if not objs:
            fail(f"deploy/k8s/overlays/{overlay}: renders no objects")
        rendered[overlay] = objs
        info(f"rendered {overlay}: {len(objs)} objects")
    return rendered


# ---- 3. schemas ---------------------------------------------------------------------------------
def kn(o: dict) -> str:
    return f"{o.get('kind')}/{o.get('metadata', {}).get('name')}"


def validate(rendered: dict[str, list[dict]]) -> None:
    for overlay, objs in rendered.items():
        for o in objs:
            for version in K8S_VERSIONS:
                try:
                    kubernetes_validate.validate(o, version, strict=True)
                except kubernetes_validate.ValidationError as e:
                    where = ".".join(str(p) for p in e.path) or "(top)"
                    fail(f"overlay {overlay}: {kn(o)} invalid for Kubernetes {version}: {where}: {e.message}")
                except kubernetes_validate.SchemaNotFoundError:
                    fail(f"overlay {overlay}: {kn(o)}: no schema for {o.get('apiVersion')} {o.get('kind')} in Kubernetes {version}")
        info(f"validated {overlay} against Kubernetes {', '.join(K8S_VERSIONS)} (strict)")


# ---- 4. cross-checks ----------------------------------------------------------------------------
def seconds(s: str) -> float:
    total, units = 0.0, {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h)", s)
    if not parts:
        raise ValueError(s)
    for n, u in parts:
        total += float(n) * units[u]
    return total


def known_env_vars() -> set[str]:
    src = (ROOT / "src" / "config.rs").read_text()
    names = set(re.findall(r'env\("([A-Z0-9_]+)"\)', src))
    # Read by the OpenTelemetry SDK itself (resource detection).
    names |= {"OTEL_RESOURCE_ATTRIBUTES", "OTEL_SERVICE_NAME"}
    return names


def pod_specs(objs):
    for o in objs:
        spec = o.get("spec", {})
        if o["kind"] in ("Deployment", "Job"):
            yield o, spec["template"]["spec"]


def cross_check(rendered: dict[str, list[dict]]) -> None:
    env_vars = known_env_vars()
    for overlay, objs in rendered.items():
        where = f"overlay {overlay}"
        by_kind = {}
        for o in objs:
            by_kind.setdefault(o["kind"], []).append(o)
        for kind in ("Deployment", "Service", "ConfigMap", "HorizontalPodAutoscaler",
                     "PodDisruptionBudget", "NetworkPolicy", "Job"):
            if kind not in by_kind:
                fail(f"{where}: renders no {kind}")
        cms = {o["metadata"]["name"]: o.get("data", {}) for o in by_kind.get("ConfigMap", [])}
        config = next((d for n, d in cms.items() if n.startswith("cityserve-config")), {})
        for key in config:
            if key not in env_vars:
                fail(f"{where}: ConfigMap key {key} is not a variable src/config.rs reads")
        for o, pod in pod_specs(objs):
            if not pod.get("securityContext", {}).get("runAsNonRoot"):
                fail(f"{where}: {kn(o)}: pod securityContext.runAsNonRoot is not true")
            for c in pod["containers"]:
                sc = c.get("securityContext", {})
                if not sc.get("readOnlyRootFilesystem") or sc.get("allowPrivilegeEscalation") is not False:
                    fail(f"{where}: {kn(o)}/{c['name']}: needs readOnlyRootFilesystem: true and allowPrivilegeEscalation: false")
                image = c.get("image", "")
                if "/" not in image or (":" not in image.rsplit("/", 1)[-1] and "@" not in image):
                    fail(f"{where}: {kn(o)}/{c['name']}: image {image!r} is not set to a registry image and tag by the overlay")
                if overlay == "production" and image.endswith(":latest"):
                    fail(f"{where}: {kn(o)}/{c['name']}: production must pin an image tag, not :latest")
        for o in by_kind.get("Deployment", []):
            pod = o["spec"]["template"]["spec"]
            grace = seconds(config.get("CITYSERVE_SHUTDOWN_GRACE", "30s"))
            if pod.get("terminationGracePeriodSeconds", 30) <= grace:
                fail(f"{where}: {kn(o)}: terminationGracePeriodSeconds must exceed CITYSERVE_SHUTDOWN_GRACE ({grace:g}s)")
            c = pod["containers"][0]
            for probe in ("readinessProbe", "livenessProbe"):
                if c.get(probe, {}).get("grpc", {}).get("port") != 50051:
                    fail(f"{where}: {kn(o)}: {probe} must be a native gRPC probe on port 50051")
        for o in by_kind.get("Service", []):
            ports = {p.get("port"): p for p in o["spec"]["ports"]}
            if ports.get(50051, {}).get("appProtocol") != "grpc" or 8311 not in ports:
                fail(f"{where}: {kn(o)}: needs port 50051 (appProtocol grpc) and 8311")
        for o in by_kind.get("Job", []):
            args = o["spec"]["template"]["spec"]["containers"][0].get("args", [])
            if args[:1] != ["migrate"]:
                fail(f"{where}: {kn(o)}: the migration Job must run `cityserve migrate`")
    info("cross-checked rendered manifests")


def check_collector(docs: dict[Path, list]) -> None:
    path = DEPLOY / "otel-collector.yaml"
    if path not in docs:  # a parse failure is already reported
        return None if path.exists() else fail("deploy/otel-collector.yaml: missing")
    cfg = docs[path][0]
    for section in ("receivers", "processors", "exporters"):
        defined = set(cfg.get(section) or {})
        for name, pipe in cfg["service"]["pipelines"].items():
            for comp in pipe.get(section, []):
                if comp not in defined:
                    fail(f"deploy/otel-collector.yaml: pipeline {name} uses undefined {section[:-1]} {comp}")
    for name, pipe in cfg["service"]["pipelines"].items():
        procs = pipe.get("processors", [])
        if not procs or procs[0] != "memory_limiter" or "batch" not in procs:
            fail(f"deploy/otel-collector.yaml: pipeline {name} must start with memory_limiter and include batch")
    for ext in cfg["service"].get("extensions", []):
        if ext not in (cfg.get("extensions") or {}):
            fail(f"deploy/otel-collector.yaml: undefined extension {ext}")
    info("checked the collector pipelines")


METRICS = {
    "rpc_server_requests_total",
    "rpc_server_call_duration_seconds_bucket",
    "rpc_server_call_duration_seconds_sum",
    "rpc_server_call_duration_seconds_count",
    "rpc_server_active_requests",
}
LABELS = {"job", "instance", "le", "rpc_system", "rpc_service", "rpc_method", "rpc_grpc_status_code"}


def check_dashboard(docs: dict[Path, list]) -> None:
    path = DEPLOY / "grafana" / "cityserve-dashboard.json"
    if path not in docs:  # a parse failure is already reported
        return None if path.exists() else fail("deploy/grafana/cityserve-dashboard.json: missing")
    dash = docs[path][0]
    ids = [p.get("id") for p in dash.get("panels", [])]
    if len(ids) != len(set(ids)):
        fail(f"{rel(path)}: duplicate panel ids")
    exprs = [t["expr"] for p in dash.get("panels", []) for t in p.get("targets", [])]
    exprs += [v["definition"] for v in dash.get("templating", {}).get("list", []) if v.get("definition")]
    for expr in exprs:
        for m in re.findall(r"\b(rpc_[a-z_]+)\b", expr):
            if m not in METRICS and m not in LABELS:
                fail(f"{rel(path)}: query uses {m}, which the server does not export: {expr}")
        for labels in re.findall(r"(?:by \(|\{)([^)}]*)", expr):
            for label in re.findall(r"([a-z_]+)\s*(?:=~|!=|=|,|$)", labels):
                if label not in LABELS:
                    fail(f"{rel(path)}: query uses label {label}, which the metrics do not carry: {expr}")
    info(f"checked {len(exprs)} dashboard queries")


def check_dockerfile() -> None:
    path = DEPLOY / "Dockerfile"
    text = path.read_text()
    need = {
        r"^FROM \S+ AS build$": "a build stage",
        r"cargo build --release --locked": "cargo build --release --locked",
        r"^USER [1-9][0-9]*(:[0-9]+)?$": "a numeric non-root USER",
        r"^EXPOSE 50051 8311$": "EXPOSE 50051 8311",
        r'^ENTRYPOINT \["cityserve"\]$': 'ENTRYPOINT ["cityserve"]',
        r'^CMD \["serve", "--log-format", "json"\]$': 'CMD ["serve", "--log-format", "json"]',
        r"CITYSERVE_LISTEN=0\.0\.0\.0:50051": "CITYSERVE_LISTEN=0.0.0.0:50051",
        r"CITYSERVE_DATA_DIR=/var/lib/cityserve": "CITYSERVE_DATA_DIR=/var/lib/cityserve",
    }
    for pattern, what in need.items():
        if not re.search(pattern, text, re.M):
            fail(f"{rel(path)}: lacks {what}")
    # Everything the build stage COPYs from the context must exist in the repository.
    for srcs in re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.M):
        for src in srcs.split():
            if not src.startswith("--") and not (ROOT / src).exists():
                fail(f"{rel(path)}: COPY source {src} does not exist in the repository")
    # Cargo refuses a manifest whose explicitly declared targets are missing: every [[bin]],
    # [[test]], [[example]] and [[bench]] of the root package must live in a copied directory.
    import tomllib

    copied = {s for srcs in re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.M) for s in srcs.split()}
    manifest = tomllib.loads((ROOT / "Cargo.toml").read_text())
    for section in ("bin", "test", "example", "bench"):
        for target in manifest.get(section, []):
            where = target.get("path") or f"{section}s/{target.get('name')}.rs"
            if where.split("/")[0] not in copied:
                fail(f"{rel(path)}: Cargo.toml declares [[{section}]] {target.get('name')} at {where}, "
                     "which the build stage does not COPY (add it to the Dockerfile and Dockerfile.dockerignore)")
    info("checked the Dockerfile")


def main() -> int:
    docs = parse_all()
    rendered = render_overlays()
    validate(rendered)
    cross_check(rendered)
    check_collector(docs)
    check_dashboard(docs)
    check_dockerfile()
    for p in problems:
        print(f"deploy/check.sh: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
