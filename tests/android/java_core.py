"""Compile android_demo/core (the Android app's plain-Java core) and its JUnit 4 tests with javac, and run them.

No Gradle: javac 17 and Debian's junit4 jar are enough for the host JVM. Classes are compiled
once per source hash into /work/main/.cache/android/javac/<hash>/, so re-runs start the JVM straight away.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CORE = REPO / "android_demo" / "core"
CACHE = REPO / ".cache" / "android" / "javac"
JUNIT_JARS = (Path("/usr/share/java/junit4.jar"), Path("/usr/share/java/hamcrest-core.jar"))


def _sources(kind: str) -> list[Path]:
    return sorted((CORE / "src" / kind / "java").rglob("*.java"))


def ensure_java() -> None:
    """javac 17 ships with the machine; junit4 comes from Debian (installed here when CI runs as root)."""
    if shutil.which("javac") is None or shutil.which("java") is None:
        pytest.fail("javac/java not found: install a JDK 17 (apt-get install -y openjdk-17-jdk-headless)")
    if all(jar.is_file() for jar in JUNIT_JARS):
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        from tests.fixtures.require import skip_or_fail

        skip_or_fail("JUnit 4 is not installed and this user cannot install it", "apt-get install -y junit4 (as root)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "junit4"]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, check=True, capture_output=True)
        subprocess.run(install, env=env, check=True, capture_output=True)


@dataclass(frozen=True)
class CompiledCore:
    main: Path
    test: Path

    @property
    def classpath(self) -> str:
        return os.pathsep.join([str(self.main), str(self.test), *map(str, JUNIT_JARS)])


def compile_core() -> CompiledCore:
    ensure_java()
    main_src, test_src = _sources("main"), _sources("test")
    digest = hashlib.sha256()
    for path in main_src + test_src:
        digest.update(str(path.relative_to(CORE)).encode() + b"\0" + path.read_bytes())
    out = CACHE / digest.hexdigest()[:16]
    done = out / "ok"
    if not done.is_file():
        if out.exists():
            shutil.rmtree(out)
        main, test = out / "main", out / "test"
        junit = os.pathsep.join(map(str, JUNIT_JARS))
        # main at Java 8 level: proves the core uses no API newer than Android's (minSdk 26) desugared library
        for dest, cp, files, release in (
            (main, "", main_src, "8"),
            (test, os.pathsep.join([str(main), junit]), test_src, "11"),
        ):
            dest.mkdir(parents=True)
            cmd = ["javac", "-encoding", "UTF-8", "--release", release, "-Xlint:-options", "-d", str(dest)]
            if cp:
                cmd += ["-cp", cp]
            proc = subprocess.run(cmd + [str(f) for f in files], capture_output=True, text=True)
            if proc.returncode != 0:
                pytest.fail(f"javac failed for android_demo/core/src/{dest.name}:\n{proc.stdout}{proc.stderr}")
        done.write_text("")
    return CompiledCore(out / "main", out / "test")


def run_junit(core: CompiledCore, test_class: str, properties: dict[str, str] | None = None, timeout: float = 120):
    """Runs one JUnit class; fails the calling pytest test with JUnit's report when any test fails."""
    props = [f"-D{k}={v}" for k, v in (properties or {}).items()]
    cmd = [
        "java",
        "-Xss4m",
        "-cp",
        core.classpath,
        *props,
        "org.junit.runner.JUnitCore",
        f"dev.edgekit.core.{test_class}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    report = proc.stdout + proc.stderr
    if proc.returncode != 0:
        pytest.fail(f"JUnit {test_class} failed:\n{report[-6000:]}", pytrace=False)
    if "OK (" not in report:
        pytest.fail(f"JUnit {test_class}: no OK line in its report:\n{report[-3000:]}", pytrace=False)
    return report
