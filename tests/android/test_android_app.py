"""What can be checked of the Android app without an Android SDK (none is reachable here).

- The onnxruntime-facing class (OnnxBackend) compiles, with the core, against onnxruntime's real Android Java API:
  the classes.jar of the onnxruntime AAR (1.29) inside the npm package com.github.asus4.onnxruntime (the only
  registry copy reachable; 150 MB, cached by npm in ~/.npm). Slow for that download.
- The app's resources are well-formed XML, every R.id/R.string the Java code uses is declared, and the Gradle
  files agree with the sources (namespace, modules, onnxruntime dependency).
Not checked here: building the APK, MainActivity against android.jar, running on a device.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tarfile
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from tests.android.java_core import CACHE, REPO, compile_core

APP = REPO / "android_demo" / "app"
JAVA = APP / "src" / "main" / "java" / "dev" / "edgekit" / "demo"
RES = APP / "src" / "main" / "res"
AAR_PACKAGE = "com.github.asus4.onnxruntime@0.4.9"
ANDROID_NS = "{http://schemas.android.com/apk/res/android}"


def _onnxruntime_classes_jar() -> Path:
    folder = CACHE.parent / "aar"
    jar = folder / "onnxruntime-classes.jar"
    if jar.is_file():
        return jar
    if shutil.which("npm") is None:
        pytest.fail("npm not found: apt-get install -y npm")
    folder.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["npm", "pack", AAR_PACKAGE, "--prefer-offline"], cwd=folder, capture_output=True, text=True, timeout=600
    )
    if proc.returncode != 0:
        pytest.fail(f"npm pack {AAR_PACKAGE} failed:\n{proc.stderr[-2000:]}")
    tgz = folder / proc.stdout.strip().splitlines()[-1]
    with tarfile.open(tgz) as tar:
        member = tar.getmember("package/Plugins/Android/onnxruntime.aar")
        aar = folder / "onnxruntime.aar"
        with tar.extractfile(member) as src, open(aar, "wb") as dst:  # type: ignore[union-attr]
            shutil.copyfileobj(src, dst)
    with zipfile.ZipFile(aar) as z, z.open("classes.jar") as src, open(jar.with_suffix(".part"), "wb") as dst:
        shutil.copyfileobj(src, dst)
    jar.with_suffix(".part").replace(jar)
    tgz.unlink()
    aar.unlink()
    return jar


@pytest.mark.slow
def test_onnx_backend_compiles_against_onnxruntime_android_api(tmp_path: Path):
    core = compile_core()
    jar = _onnxruntime_classes_jar()
    with zipfile.ZipFile(jar) as z:
        assert "ai/onnxruntime/OrtSession.class" in z.namelist()
    proc = subprocess.run(
        [
            "javac",
            "--release",
            "8",
            "-Xlint:-options",
            "-Werror",
            "-d",
            str(tmp_path),
            "-cp",
            f"{core.main}:{jar}",
            str(JAVA / "OnnxBackend.java"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, f"OnnxBackend.java does not compile against onnxruntime's Java API:\n{proc.stderr}"
    assert (tmp_path / "dev" / "edgekit" / "demo" / "OnnxBackend.class").is_file()


def test_resources_parse_and_cover_what_the_code_uses():
    ids: set[str] = set()
    for xml in RES.rglob("*.xml"):
        root = ET.parse(xml).getroot()  # raises on malformed XML
        for el in root.iter():
            value = el.get(f"{ANDROID_NS}id", "")
            if value.startswith("@+id/"):
                ids.add(value[len("@+id/") :])
    strings = {el.get("name") for el in ET.parse(RES / "values" / "strings.xml").getroot()}
    code = "\n".join(p.read_text(encoding="utf-8") for p in JAVA.glob("*.java"))
    used_ids = set(re.findall(r"(?<!android\.)R\.id\.(\w+)", code))
    used_strings = set(re.findall(r"(?<!android\.)R\.string\.(\w+)", code))  # android.R.* is the platform's
    for xml in RES.rglob("*.xml"):
        used_strings |= set(re.findall(r"@string/(\w+)", xml.read_text(encoding="utf-8")))
    assert used_ids and used_ids <= ids, f"R.id used but not declared: {sorted(used_ids - ids)}"
    assert used_strings <= strings, f"strings used but not declared: {sorted(used_strings - strings)}"
    manifest = ET.parse(APP / "src" / "main" / "AndroidManifest.xml").getroot()
    activities = [a.get(f"{ANDROID_NS}name") for a in manifest.iter("activity")]
    assert activities == [".MainActivity"] and (JAVA / "MainActivity.java").is_file()


def test_gradle_files_agree_with_the_sources():
    settings = (REPO / "android_demo" / "settings.gradle").read_text(encoding="utf-8")
    assert 'include ":core", ":app"' in settings
    app = (APP / "build.gradle").read_text(encoding="utf-8")
    assert 'namespace "dev.edgekit.demo"' in app and 'project(":core")' in app
    assert re.search(r"com\.microsoft\.onnxruntime:onnxruntime-android:1\.(2[2-9]|[3-9]\d)\.", app)
    for java in JAVA.glob("*.java"):
        assert java.read_text(encoding="utf-8").startswith("package dev.edgekit.demo;"), java
    core = REPO / "android_demo" / "core" / "src" / "main" / "java" / "dev" / "edgekit" / "core"
    for java in core.rglob("*.java"):
        text = java.read_text(encoding="utf-8")
        assert "import android." not in text and "import ai.onnxruntime" not in text, f"{java} is not plain Java"
