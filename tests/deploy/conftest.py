"""Paths, parsers and loaders for the deployment bundle tests (Dockerfile, compose, Kubernetes,
Prometheus examples, systemd). Docker does not run here: these check the files statically and run
the real tools that are installed (promtool, systemd-analyze, the exporter's own --config.check)."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from exporter.cli import DEFAULT_LISTEN

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "docker-compose.yml"
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"
PROM_EXAMPLES = DEPLOY / "prometheus"
SYSTEMD_UNIT = DEPLOY / "systemd" / "inventory-exporter.service"
RULES_FILE = ROOT / "alerting-rules" / "inventory.rules.yml"
ALERTMANAGER_FILE = ROOT / "alerting-rules" / "alertmanager.yml"
DEPLOYMENT_DOC = ROOT / "docs" / "deployment.md"
EXPORTER_PORT = int(DEFAULT_LISTEN.rpartition(":")[2])
# The InventoryExporterDown/Absent alerts select the exporter's job by this pattern.
EXPORTER_JOB_RE = re.compile(r"inventory.*")


def load_yaml(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def config_check(path: Path) -> subprocess.CompletedProcess:
    """The exporter's own validator: ``inventory-exporter --config.file PATH --config.check``."""
    return subprocess.run(
        [sys.executable, "-m", "exporter", f"--config.file={path}", "--config.check"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )


def parse_flags(args: list[str]):
    """The exporter's flags as its own parser reads them (an unknown flag raises SystemExit)."""
    from exporter.cli import build_parser

    return build_parser().parse_args(args)


def port_of(address: str) -> int:
    return int(address.rpartition(":")[2])


# --- Dockerfile ------------------------------------------------------------------------------

@dataclass
class Instruction:
    keyword: str
    args: str
    line: int

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form instruction (CMD ["a", "b"]), else None."""
        text = self.args.strip()
        if text.startswith("["):
            return json.loads(text)
        return None


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def dockerfile_instructions(text: str) -> list[Instruction]:
    """Instructions with line continuations joined and comments dropped (Docker's own rules)."""
    out: list[Instruction] = []
    buffer, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if buffer and stripped.startswith("#"):
            continue  # comment lines inside a continued instruction are removed
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer += stripped[:-1] + " "
            continue
        buffer += stripped
        keyword, _, args = buffer.partition(" ")
        out.append(Instruction(keyword.upper(), args.strip(), start))
        buffer = ""
    assert not buffer, "Dockerfile ends inside a continued instruction"
    return out


def dockerfile_args(instructions: list[Instruction]) -> dict[str, str]:
    """Global ARG defaults (the ones before the first FROM)."""
    args: dict[str, str] = {}
    for inst in instructions:
        if inst.keyword == "FROM":
            break
        if inst.keyword == "ARG":
            name, _, default = inst.args.partition("=")
            args[name.strip()] = default.strip()
    return args


def dockerfile_stages() -> list[Stage]:
    instructions = dockerfile_instructions(DOCKERFILE.read_text(encoding="utf-8"))
    args = dockerfile_args(instructions)
    stages: list[Stage] = []
    for inst in instructions:
        if inst.keyword == "FROM":
            words = [w for w in inst.args.split() if not w.startswith("--platform")]
            base = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m.group(1) or m.group(2), m.group(0)), words[0])
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base, name))
        elif stages:
            stages[-1].instructions.append(inst)
    return stages


def copy_sources(inst: Instruction) -> list[str]:
    """The sources of a COPY from the build context (not --from=stage), exec or shell form."""
    words = inst.exec_form() or shlex.split(inst.args)
    if any(w.startswith("--from") for w in words):
        return []
    words = [w for w in words if not w.startswith("--")]
    return words[:-1]


def dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    return [l.strip() for l in lines if l.strip() and not l.strip().startswith("#")]


def _pattern_matches(pattern: str, path: str) -> bool:
    """Docker's .dockerignore matching (Go filepath.Match plus ``**``), a pattern also covering
    everything under a matched directory."""
    pattern = pattern.strip("/")
    regex = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            regex += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            regex += ".*"
            i += 2
        elif pattern[i] == "*":
            regex += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            regex += "[^/]"
            i += 1
        else:
            regex += re.escape(pattern[i])
            i += 1
    parts = path.split("/")
    return any(re.fullmatch(regex, "/".join(parts[:n])) for n in range(1, len(parts) + 1))


def in_build_context(path: str) -> bool:
    """Whether ``path`` (relative to the repo) is sent to the builder: the last matching
    .dockerignore pattern decides, a ``!`` pattern re-including."""
    included = True
    for pattern in dockerignore_patterns():
        negate = pattern.startswith("!")
        if _pattern_matches(pattern.lstrip("!"), path):
            included = negate
    return included


def context_files(source: str) -> list[str]:
    """Files under a COPY source that reach the builder."""
    base = ROOT / source
    files = [base] if base.is_file() else [p for p in base.rglob("*") if p.is_file()]
    return [str(p.relative_to(ROOT)) for p in files if in_build_context(str(p.relative_to(ROOT)))]


# --- docker-compose.yml ----------------------------------------------------------------------

def compose() -> dict:
    return load_yaml(COMPOSE)


def split_volume(spec: str) -> tuple[str, str, str]:
    """(source, target, mode) of a short-syntax volume 'src:dst[:mode]'."""
    parts = expand_default(spec).split(":")
    source, target = parts[0], parts[1]
    mode = parts[2] if len(parts) > 2 else "rw"
    return source, target, mode


def expand_default(value: str) -> str:
    """${VAR:-default} -> default (what compose uses when VAR is unset)."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


def mounts(service: dict) -> dict[str, tuple[str, str]]:
    """container path -> (host source, mode) of a service's volumes."""
    out = {}
    for spec in service.get("volumes", []):
        source, target, mode = split_volume(spec)
        out[target] = (source, mode)
    return out


def flag(args: list[str], name: str) -> str | None:
    for arg in args:
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
    return None


def image_is_pinned(image: str) -> bool:
    """name:tag with a version in the tag (not latest, not a bare major), or a digest."""
    if "@sha256:" in image:
        return re.fullmatch(r".+@sha256:[0-9a-f]{64}", image) is not None
    name, sep, tag = image.rpartition(":")
    if not sep or "/" in tag or tag in {"latest", "stable", "main", "edge"}:
        return False
    return re.match(r"v?\d+\.\d+\.\d+", tag) is not None


# --- Kubernetes ------------------------------------------------------------------------------

def k8s_documents() -> list[tuple[Path, dict]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc is not None:
                docs.append((path, doc))
    return docs


def k8s_object(kind: str, name: str | None = None) -> dict:
    found = [d for _, d in k8s_documents() if d.get("kind") == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''} in {K8S}, found {len(found)}"
    return found[0]


def containers(deployment: dict) -> dict[str, dict]:
    return {c["name"]: c for c in deployment["spec"]["template"]["spec"]["containers"]}


# --- systemd ---------------------------------------------------------------------------------

def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """section -> key -> values (systemd keys may repeat); comments and blank lines skipped,
    continuation lines joined. Raises on a line that is neither."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    pending = ""
    for number, raw in enumerate(text.splitlines(), 1):
        line = pending + raw.strip()
        pending = ""
        if not line or line[0] in "#;":
            continue
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition("=")
        assert sep and current is not None and re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", key.strip()), f"line {number}: {raw!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def fnmatch_any(patterns: list[str], name: str) -> bool:
    return any(fnmatch.fnmatch(name, p) for p in patterns)
