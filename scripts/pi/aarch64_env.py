#!/usr/bin/env python3
"""Build an emulated Raspberry Pi OS 64-bit Python (aarch64, Python 3.11) on an x86 host.

Nothing here needs root tricks, a Pi, or Docker (docs/raspberry-pi.md explains the job):

1. ``qemu-user-static`` from Debian (installed with apt-get when absent and we are root).
2. A private apt configuration with ``APT::Architecture=arm64`` resolves and downloads the
   arm64 ``python3.11`` dependency closure of Debian bookworm, the release Raspberry Pi OS
   64-bit is built on (same glibc 2.36, same Python 3.11); each ``.deb`` is unpacked with
   ``dpkg-deb -x`` into ``rootfs/``. No maintainer scripts run: Python needs none.
3. Empty ``rootfs/sys/devices/system/cpu/{possible,present}``: qemu-user's ``-L`` prefix
   shadows the host's x86 sysfs with them, otherwise onnxruntime's CPU probe (pytorch/cpuinfo)
   parses the host topology and segfaults.
4. The host pip installs aarch64 wheels (``--platform manylinux_2_X_aarch64 --python-version 3.11
   --only-binary=:all:``) of the base install's dependencies into ``site-deps/``, pinned to
   the versions of the x86 environment that runs this script, so an x86/aarch64 token
   comparison compares architectures, not library versions. pytest is added (pure Python)
   to run tests inside the emulated Python.
5. edgekit itself: a wheel built from the repo (``pip wheel --no-deps``, the same artefact a Pi
   user installs) goes into ``site-edgekit/`` with ``pip install --no-deps --target``; it is
   rebuilt on every ``build`` because the source changes, the rest is cached.

Everything is cached under ``--cache`` (default ``<repo>/.cache/pi``, or ``$EDGEKIT_PI_CACHE``):
downloaded .debs, the apt lists, the wheelhouse, the unpacked rootfs and site folders, each
with a stamp of what it was built from. A warm ``build`` only rebuilds the edgekit wheel.

CLI::

    python scripts/pi/aarch64_env.py build                # prints step timings, JSON with --json
    python scripts/pi/aarch64_env.py run --cpu cortex-a76 -- -c "import platform; print(platform.machine())"
    python scripts/pi/aarch64_env.py smoke                # imports + a tiny onnxruntime session on both CPUs

This is a developer/CI script (it prints); it is not part of the edgekit package.
"""

from __future__ import annotations

import argparse
import dataclasses
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CACHE = Path(os.environ.get("EDGEKIT_PI_CACHE", REPO / ".cache" / "pi"))

# Raspberry Pi OS 64-bit (bookworm) = Debian bookworm arm64: same release, glibc and Python.
DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = os.environ.get("EDGEKIT_PI_DEBIAN_MIRROR", "http://deb.debian.org/debian")
DEBIAN_SECURITY = os.environ.get("EDGEKIT_PI_DEBIAN_SECURITY", "http://deb.debian.org/debian-security")
DEBIAN_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
# python3.11 pulls libc6, libssl3, zlib1g, libffi8, ...; onnxruntime's and tokenizers' wheels
# link libstdc++ and libgcc_s, which Pi OS always has but python3.11 does not depend on.
DEB_PACKAGES = ("python3.11", "libstdc++6", "libgcc-s1")
PYTHON_VERSION = "3.11"
GUEST_PYTHON = "/usr/bin/python3.11"
# glibc 2.36 (bookworm) accepts manylinux_2_17 .. manylinux_2_36 wheels (PEP 600).
GLIBC_MINOR = 36
WHEEL_PLATFORMS = tuple(f"manylinux_2_{m}_aarch64" for m in range(GLIBC_MINOR, 16, -1)) + ("manylinux2014_aarch64",)
# Base-install packages whose version must equal the x86 reference (they compute the tokens).
PINNED_FROM_HOST = ("numpy", "onnxruntime", "tokenizers", "jinja2", "markupsafe", "click", "httpx")
# Test tools only, never imported by edgekit: pytest runs the runtime's test subset inside the
# emulated Python, onnx builds those tests' toy graphs (tests/runtime/toy_bundle.py), and jsonschema
# checks the arguments of local tool calls independently of edgekit's own checker (tests/runtime/test_tools.py).
EXTRA_GUEST_PACKAGES = ("pytest", "onnx", "jsonschema")
PI_CPUS = {
    "cortex-a72": "Raspberry Pi 4 (BCM2711, 4x Cortex-A72)",
    "cortex-a76": "Raspberry Pi 5 (BCM2712, 4x Cortex-A76)",
}


# Host variables the guest sees; EDGEKIT_TEST_CACHE lets the guest's test fixtures find the
# bundles the x86 side exported (tests/fixtures/bundles.py caches them there).
_PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TERM", "TMPDIR", "CI", "EDGEKIT_TEST_CACHE")


class EnvError(RuntimeError):
    """The aarch64 environment could not be built or run (message says which step and why)."""


@dataclasses.dataclass
class Step:
    name: str
    seconds: float
    detail: str = ""
    cached: bool = False


@dataclasses.dataclass
class Aarch64Env:
    """Paths of a built environment and how to run its Python under qemu-user."""

    cache: Path
    qemu: str
    steps: list[Step] = dataclasses.field(default_factory=list)

    @property
    def rootfs(self) -> Path:
        return self.cache / "rootfs"

    @property
    def site_deps(self) -> Path:
        return self.cache / "site-deps"

    @property
    def site_edgekit(self) -> Path:
        return self.cache / "site-edgekit"

    def env(self, cpu: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        """A clean environment for the guest Python: nothing of the host venv leaks in."""
        keep = {k: v for k, v in os.environ.items() if k in _PASSED_ENV}
        keep.update(
            QEMU_CPU=cpu,
            PYTHONNOUSERSITE="1",
            PYTHONDONTWRITEBYTECODE="1",
            HF_HUB_OFFLINE="1",  # as tests/conftest.py: nothing may reach a model hub
            # `python3` / `edgekit` spawned by a guest test resolve to the guest launchers first.
            PATH=f"{self.cache / 'bin'}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        )
        keep.update(extra or {})
        return keep

    @property
    def python(self) -> Path:
        """The launcher: a host shell script that runs the guest Python under qemu (see write_launchers)."""
        return self.cache / "bin" / "python3.11"

    def argv(self, args: Sequence[str]) -> list[str]:
        return [str(self.python), *args]

    def run(
        self,
        cpu: str,
        args: Sequence[str],
        *,
        cwd: str | os.PathLike | None = None,
        env: dict[str, str] | None = None,
        timeout: float | None = None,
        capture: bool = True,
    ) -> subprocess.CompletedProcess:
        if cpu not in PI_CPUS:
            raise EnvError(f"unknown CPU {cpu!r}; use one of {', '.join(PI_CPUS)}")
        return subprocess.run(
            self.argv(args),
            cwd=cwd,
            env=self.env(cpu, env),
            timeout=timeout,
            text=True,
            capture_output=capture,
        )


# -- helpers ----------------------------------------------------------------------------------


def _sh(cmd: Sequence[str], what: str, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(cmd), text=True, capture_output=True, **kw)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
        raise EnvError(f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n" + "\n".join(tail))
    return proc


def _digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _stamp_ok(folder: Path, key: str) -> bool:
    stamp = folder / ".edgekit-stamp"
    return stamp.is_file() and stamp.read_text().strip() == key


def _write_stamp(folder: Path, key: str) -> None:
    (folder / ".edgekit-stamp").write_text(key + "\n")


class _Timer:
    def __init__(self, steps: list[Step], name: str, log: Callable[[str], None]):
        self.steps, self.name, self.log = steps, name, log
        self.detail, self.cached = "", False

    def __enter__(self) -> _Timer:
        self.t0 = time.monotonic()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            step = Step(self.name, time.monotonic() - self.t0, self.detail, self.cached)
            self.steps.append(step)
            self.log(
                f"[pi-env] {step.name:<22} {step.seconds:6.1f} s  {'(cached) ' if step.cached else ''}{step.detail}"
            )


# -- steps ------------------------------------------------------------------------------------


def ensure_qemu() -> tuple[str, str]:
    """Path of qemu-aarch64-static (apt-get installs it when absent and we are root)."""
    found = shutil.which("qemu-aarch64-static")
    if found:
        return found, "present"
    if os.geteuid() != 0:
        raise EnvError("qemu-aarch64-static is missing; install it: sudo apt-get install -y qemu-user-static")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    _sh(["apt-get", "update", "-qq"], "apt-get update", env=env)
    _sh(["apt-get", "install", "-y", "-qq", "qemu-user-static"], "apt-get install qemu-user-static", env=env)
    found = shutil.which("qemu-aarch64-static")
    if not found:
        raise EnvError("qemu-user-static installed but qemu-aarch64-static is not on PATH")
    return found, "installed with apt-get"


def _apt_options(aptdir: Path, archives: Path) -> list[str]:
    opts = {
        "Dir::Etc": aptdir / "etc",
        "Dir::Etc::SourceList": aptdir / "etc" / "sources.list",
        "Dir::Etc::SourceParts": aptdir / "etc" / "sources.list.d",
        "Dir::Etc::Preferences": aptdir / "etc" / "preferences",
        "Dir::Etc::PreferencesParts": aptdir / "etc" / "preferences.d",
        "Dir::Etc::Trusted": aptdir / "etc" / "trusted.gpg",
        "Dir::Etc::TrustedParts": aptdir / "etc" / "trusted.gpg.d",
        "Dir::State": aptdir / "state",
        "Dir::State::Lists": aptdir / "state" / "lists",
        "Dir::State::status": aptdir / "status",  # empty: nothing counts as installed
        "Dir::Cache": aptdir / "cache",
        "Dir::Cache::archives": archives,
        "APT::Architecture": "arm64",
        "APT::Architectures": "arm64",
        "APT::Install-Recommends": "false",
        "APT::Get::AllowUnauthenticated": "false",
        "Acquire::Languages": "none",
        # The mirror here may be a frozen snapshot (the host's apt config sets the same).
        "Acquire::Check-Valid-Until": "false",
        "Debug::NoLocking": "true",
    }
    return [f"-o{k}={v}" for k, v in opts.items()]


def _write_apt_config(aptdir: Path, archives: Path) -> None:
    for sub in ("etc/sources.list.d", "etc/preferences.d", "etc/trusted.gpg.d", "state/lists/partial", "cache"):
        (aptdir / sub).mkdir(parents=True, exist_ok=True)
    (archives / "partial").mkdir(parents=True, exist_ok=True)
    (aptdir / "status").touch()
    signed = f" signed-by={DEBIAN_KEYRING}" if Path(DEBIAN_KEYRING).is_file() else ""
    lines = [
        f"deb [arch=arm64{signed}] {DEBIAN_MIRROR} {DEBIAN_SUITE} main",
        f"deb [arch=arm64{signed}] {DEBIAN_MIRROR} {DEBIAN_SUITE}-updates main",
        f"deb [arch=arm64{signed}] {DEBIAN_SECURITY} {DEBIAN_SUITE}-security main",
    ]
    (aptdir / "etc" / "sources.list").write_text("\n".join(lines) + "\n")


_INST = re.compile(r"^Inst (\S+) \((\S+) ")


def build_rootfs(cache: Path, log: Callable[[str], None], steps: list[Step], refresh: bool = False) -> Path:
    """Resolve, download and unpack the arm64 python3.11 closure into cache/rootfs."""
    rootfs = cache / "rootfs"
    key = _digest("rootfs-v1", DEBIAN_SUITE, DEBIAN_MIRROR, DEB_PACKAGES)
    if not refresh and _stamp_ok(rootfs, key):
        with _Timer(steps, "debian arm64 rootfs", log) as t:
            t.cached, t.detail = True, f"{rootfs}"
        return rootfs
    aptdir, archives = cache / "apt", cache / "debs"
    _write_apt_config(aptdir, archives)
    opts = _apt_options(aptdir, archives)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    with _Timer(steps, "apt-get update (arm64)", log) as t:
        _sh(["apt-get", *opts, "update", "-qq"], "apt-get update for arm64", env=env)
        t.detail = f"{DEBIAN_SUITE} main, -updates, -security"
    with _Timer(steps, "resolve + download .debs", log) as t:
        sim = _sh(["apt-get", *opts, "install", "-s", "-y", *DEB_PACKAGES], "apt-get -s install (resolve)", env=env)
        packages = [m.groups() for m in map(_INST.match, sim.stdout.splitlines()) if m]
        if not packages:
            raise EnvError("apt resolved an empty package set for arm64 python3.11:\n" + sim.stdout[-2000:])
        before = {p.name for p in archives.glob("*.deb")}
        _sh(
            ["apt-get", *opts, "install", "-d", "-y", "-qq", *DEB_PACKAGES],
            "apt-get download of the arm64 closure",
            env=env,
        )
        debs = []
        for name, version in packages:
            quoted = version.replace(":", "%3a")
            found = sorted(archives.glob(f"{name}_{quoted}_*.deb"))
            if not found:
                raise EnvError(f"apt said it would fetch {name} {version} but {archives} has no such .deb")
            debs.append(found[0])
        fetched = len({d.name for d in debs} - before)
        size = sum(d.stat().st_size for d in debs) / 2**20
        t.detail = f"{len(debs)} packages, {size:.1f} MiB ({fetched} downloaded, {len(debs) - fetched} from cache)"
        t.cached = fetched == 0
    with _Timer(steps, "unpack .debs", log) as t:
        if rootfs.exists():
            shutil.rmtree(rootfs)
        rootfs.mkdir(parents=True)
        for deb in debs:
            _sh(["dpkg-deb", "-x", str(deb), str(rootfs)], f"dpkg-deb -x {deb.name}")
        # Shadow the host's x86 sysfs CPU topology (see module docstring).
        cpu_dir = rootfs / "sys" / "devices" / "system" / "cpu"
        cpu_dir.mkdir(parents=True, exist_ok=True)
        for name in ("possible", "present"):
            (cpu_dir / name).write_text("")
        if not (rootfs / GUEST_PYTHON.lstrip("/")).exists():
            raise EnvError(f"unpacked rootfs has no {GUEST_PYTHON}")
        (rootfs / "packages.txt").write_text("".join(f"{n} {v}\n" for n, v in packages))
        _write_stamp(rootfs, key)
        t.detail = f"{rootfs}"
    return rootfs


def _host_version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def requirement_name(requirement: str) -> str:
    """The distribution name of a PEP 508 requirement ("numpy>=1.24" -> "numpy")."""
    return re.split(r"[<>=!~ ;\[]", requirement, maxsplit=1)[0].strip()


def base_requirements() -> list[str]:
    """pyproject's [project].dependencies, pinned to the host's versions where they decide numbers."""
    import tomllib

    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    reqs = []
    for dep in deps:
        name = requirement_name(dep)
        version = _host_version(name) if name.lower() in PINNED_FROM_HOST else None
        reqs.append(f"{name}=={version}" if version else dep)
    for name in ("markupsafe",):  # jinja2's compiled dependency: same version as x86 too
        version = _host_version(name)
        if version:
            reqs.append(f"{name}=={version}")
    for name in EXTRA_GUEST_PACKAGES:
        version = _host_version(name)
        reqs.append(f"{name}=={version}" if version else name)
    return reqs


def _pip_platform_args() -> list[str]:
    args = [
        "--only-binary=:all:",
        "--python-version",
        PYTHON_VERSION,
        "--implementation",
        "cp",
        "--abi",
        "cp311",
        "--abi",
        "abi3",
        "--abi",
        "none",
    ]
    for plat in WHEEL_PLATFORMS:
        args += ["--platform", plat]
    return args


def build_site_deps(cache: Path, log: Callable[[str], None], steps: list[Step], refresh: bool = False) -> Path:
    site, wheels = cache / "site-deps", cache / "wheels"
    reqs = base_requirements()
    key = _digest("site-deps-v1", reqs, WHEEL_PLATFORMS)
    if not refresh and _stamp_ok(site, key):
        with _Timer(steps, "aarch64 wheels", log) as t:
            t.cached, t.detail = True, " ".join(r for r in reqs if "==" in r)
        return site
    wheels.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    with _Timer(steps, "download aarch64 wheels", log) as t:
        before = {p.name for p in wheels.iterdir()}
        _sh([*pip, "download", "-q", "-d", str(wheels), *_pip_platform_args(), *reqs], "pip download (aarch64 wheels)")
        new = {p.name for p in wheels.iterdir()} - before
        t.detail = f"{len(new)} new wheel(s) in {wheels}"
        t.cached = not new
    with _Timer(steps, "install aarch64 wheels", log) as t:
        if site.exists():
            shutil.rmtree(site)
        _sh(
            [
                *pip,
                "install",
                "-q",
                "--no-index",
                "--find-links",
                str(wheels),
                "--target",
                str(site),
                *_pip_platform_args(),
                *reqs,
            ],
            "pip install --target (aarch64 wheels)",
        )
        _write_stamp(site, key)
        t.detail = " ".join(r for r in reqs if "==" in r)
    return site


def build_site_edgekit(cache: Path, log: Callable[[str], None], steps: list[Step]) -> Path:
    """Build edgekit's wheel from the repo and install it with --no-deps (deps are in site-deps)."""
    site = cache / "site-edgekit"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    with _Timer(steps, "edgekit wheel", log) as t:
        with tempfile.TemporaryDirectory(prefix="edgekit-wheel-") as tmp:
            _sh([*pip, "wheel", "-q", "--no-deps", "-w", tmp, str(REPO)], "pip wheel of the edgekit repo")
            built = sorted(Path(tmp).glob("edgekit-*.whl"))
            if not built:
                raise EnvError("pip wheel produced no edgekit-*.whl")
            if site.exists():
                shutil.rmtree(site)
            _sh(
                [*pip, "install", "-q", "--no-deps", "--target", str(site), str(built[0])],
                "pip install --no-deps --target (edgekit)",
            )
            t.detail = f"{built[0].name} -> {site} (--no-deps)"
    return site


def write_launchers(cache: Path, qemu: str) -> Path:
    """``bin/python3.11`` (+ python3, python) and ``bin/edgekit``: host scripts that start the guest.

    qemu-user cannot exec an aarch64 binary by itself (that needs binfmt_misc, a host-wide
    setting we leave alone), so a test that spawns ``sys.executable`` would fail with "Exec
    format error". The launcher is a shell script, which the host kernel can exec from inside
    the emulated process; ``-0 "$0"`` makes the guest's argv[0] — hence ``sys.executable`` —
    the launcher itself, so child processes come back through it (QEMU_CPU is inherited).
    Python still finds its stdlib through its compiled-in prefix /usr, which ``-L`` maps to
    the rootfs. ``bin/edgekit`` is a console script whose interpreter is the launcher (Linux
    allows a script as a shebang interpreter), as pip would write it on the Pi.
    """
    bindir = cache / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    rootfs = cache / "rootfs"
    sites = f"{cache / 'site-edgekit'}:{cache / 'site-deps'}"
    launcher = (
        "#!/bin/sh\n# aarch64 Python 3.11 (Debian bookworm = Raspberry Pi OS 64-bit) under qemu-user; see "
        "aarch64_env.py\n"
        f'export QEMU_CPU="${{QEMU_CPU:-cortex-a72}}" PYTHONPATH="{sites}${{PYTHONPATH:+:$PYTHONPATH}}"\n'
        f'exec "{qemu}" -L "{rootfs}" -0 "$0" "{rootfs}{GUEST_PYTHON}" "$@"\n'
    )
    for name in ("python3.11", "python3", "python"):
        path = bindir / name
        path.write_text(launcher)
        path.chmod(0o755)
    script = bindir / "edgekit"
    script.write_text(
        f"#!{bindir / 'python3.11'}\nimport sys\nfrom edgekit.sdk.cli import main\n"
        "if __name__ == '__main__':\n    sys.exit(main())\n"
    )
    script.chmod(0o755)
    return bindir


def build(
    cache: Path = DEFAULT_CACHE, log: Callable[[str], None] = print, refresh: bool = False, edgekit: bool = True
) -> Aarch64Env:
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    steps: list[Step] = []
    # One builder at a time per cache (a developer's smoke run next to a test run would otherwise
    # delete a site folder the other is filling).
    with open(cache / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with _Timer(steps, "qemu-user-static", log) as t:
            qemu, how = ensure_qemu()
            t.detail, t.cached = f"{qemu} ({how})", how == "present"
        build_rootfs(cache, log, steps, refresh)
        build_site_deps(cache, log, steps, refresh)
        if edgekit:
            build_site_edgekit(cache, log, steps)
        write_launchers(cache, qemu)
    return Aarch64Env(cache=cache, qemu=qemu, steps=steps)


# -- smoke check ------------------------------------------------------------------------------

SMOKE = r"""
import json, platform, sys, time
t0 = time.monotonic()
import numpy, onnxruntime as ort, tokenizers
from onnxruntime import InferenceSession
# A one-node graph built by hand (no onnx package on the device): y = x @ w.
import_s = time.monotonic() - t0
def graph():
    # ModelProto written directly in protobuf wire format (onnx.proto field numbers): the base
    # install has no onnx package, and this keeps the check free of host-built files.
    def varint(n):
        out = bytearray()
        while True:
            b = n & 0x7F; n >>= 7
            out.append(b | (0x80 if n else 0))
            if not n: return bytes(out)
    def field(num, wire, payload):
        key = varint((num << 3) | wire)
        return key + (varint(len(payload)) + payload if wire == 2 else payload)
    s = lambda num, text: field(num, 2, text.encode())
    def tensor_type(dims):  # TypeProto{tensor_type{elem_type=1 float, shape}}
        shape = b"".join(field(1, 2, field(1, 0, varint(d))) for d in dims)
        return field(1, 2, field(1, 0, varint(1)) + field(2, 2, shape))
    def value_info(name, dims):
        return s(1, name) + field(2, 2, tensor_type(dims))
    node = s(1, "x") + s(1, "w") + s(2, "y") + s(4, "MatMul")
    w = numpy.arange(12, dtype=numpy.float32).reshape(4, 3) / 10
    dims = b"".join(field(1, 0, varint(d)) for d in w.shape)
    init = dims + field(2, 0, varint(1)) + s(8, "w") + field(9, 2, w.tobytes())
    inputs = field(11, 2, value_info("x", [2, 4]))
    outputs = field(12, 2, value_info("y", [2, 3]))
    g = field(1, 2, node) + s(2, "g") + field(5, 2, init) + inputs + outputs
    opset = s(1, "") + field(2, 0, varint(17))
    return field(1, 0, varint(8)) + field(7, 2, g) + field(8, 2, opset), w
model, w = graph()
opts = ort.SessionOptions(); opts.intra_op_num_threads = 1
sess = InferenceSession(model, opts, providers=["CPUExecutionProvider"])
x = numpy.linspace(-1, 1, 8, dtype=numpy.float32).reshape(2, 4)
y = sess.run(None, {"x": x})[0]
err = float(abs(y - x @ w).max())
tok = tokenizers.Tokenizer(tokenizers.models.WordLevel({"hi": 0, "pi": 1, "[UNK]": 2}, unk_token="[UNK]"))
tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
print(json.dumps({
    "machine": platform.machine(), "python": platform.python_version(),
    "numpy": numpy.__version__, "onnxruntime": ort.__version__, "tokenizers": tokenizers.__version__,
    "providers": ort.get_available_providers(), "matmul_max_abs_err": err,
    "tokens": tok.encode("hi pi x").ids, "import_s": round(import_s, 2),
}))
sys.exit(0 if err < 1e-5 and platform.machine() == "aarch64" else 1)
"""


def smoke(env: Aarch64Env, log: Callable[[str], None] = print) -> dict[str, dict]:
    results = {}
    for cpu in PI_CPUS:
        t0 = time.monotonic()
        proc = env.run(cpu, ["-c", SMOKE], timeout=300)
        secs = time.monotonic() - t0
        if proc.returncode != 0:
            raise EnvError(
                f"smoke check under {cpu} failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr[-3000:]}"
            )
        info = json.loads(proc.stdout.strip().splitlines()[-1])
        info["seconds"] = round(secs, 1)
        results[cpu] = info
        log(f"[pi-env] smoke {cpu:<10} {secs:6.1f} s  {json.dumps(info)}")
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="cache/work folder (default %(default)s)")
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build (or refresh) the environment")
    b.add_argument("--refresh", action="store_true", help="ignore stamps: re-resolve .debs and wheels")
    b.add_argument("--json", action="store_true")
    s = sub.add_parser(
        "smoke", help="build, then import numpy/onnxruntime/tokenizers and run a tiny session on both CPUs"
    )
    s.add_argument("--json", action="store_true")
    r = sub.add_parser("run", help="run the aarch64 python3.11 with the given arguments")
    r.add_argument("--cpu", choices=sorted(PI_CPUS), default="cortex-a72")
    r.add_argument("args", nargs=argparse.REMAINDER)
    ns = parser.parse_args(argv)
    log = (lambda m: print(m, file=sys.stderr)) if getattr(ns, "json", False) else print
    t0 = time.monotonic()
    try:
        if ns.cmd == "run":
            env = build(ns.cache, log=lambda m: print(m, file=sys.stderr))
            args = ns.args[1:] if ns.args[:1] == ["--"] else ns.args
            return env.run(ns.cpu, args, capture=False).returncode
        env = build(ns.cache, log=log, refresh=getattr(ns, "refresh", False))
        out: dict = {"steps": [dataclasses.asdict(s) for s in env.steps]}
        if ns.cmd == "smoke":
            out["smoke"] = smoke(env, log)
        out["total_s"] = round(time.monotonic() - t0, 1)
        if ns.json:
            print(json.dumps(out, indent=2))
        else:
            print(f"[pi-env] total {out['total_s']} s")
        return 0
    except EnvError as exc:
        print(f"[pi-env] error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
