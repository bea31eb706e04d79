"""packaging/windows/harvest.py: the WiX fragments for the MSI list every file of the bundle once, with ids WiX
accepts that stay the same from one build to the next."""

from __future__ import annotations

import importlib.util
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType

HARVEST = Path(__file__).resolve().parents[2] / "packaging" / "windows" / "harvest.py"
NS = {"w": "http://wixtoolset.org/schemas/v4/wxs"}
WIX_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,71}")


def parse(path: Path) -> ET.ElementTree[ET.Element]:
    return ET.parse(path)  # noqa: S314 - a file this test just generated, not untrusted input


def harvest() -> ModuleType:
    spec = importlib.util.spec_from_file_location("harvest", HARVEST)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bundle(root: Path) -> Path:
    for relative in ("salus.exe", "salusw.exe", "_internal/python311.dll", "_internal/PySide6/Qt6Core.dll",
                     "_internal/resources/portal/index.html", "_internal/salus-0.1.0.dist-info/METADATA"):  # fmt: skip
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    return root


def test_every_file_but_the_windowed_executable_becomes_one_component(tmp_path: Path) -> None:
    root = bundle(tmp_path / "salus")
    harvest().main(root, tmp_path / "no-templates", tmp_path / "wix")
    tree = parse(tmp_path / "wix" / "Files.wxs")
    sources = sorted(Path(f.get("Source", "")).relative_to(root).as_posix() for f in tree.iterfind(".//w:File", NS))
    assert sources == [
        "_internal/PySide6/Qt6Core.dll",
        "_internal/python311.dll",
        "_internal/resources/portal/index.html",
        "_internal/salus-0.1.0.dist-info/METADATA",
        "salus.exe",
    ]
    components = {c.get("Id") for c in tree.iterfind(".//w:Component", NS)}
    refs = {r.get("Id") for r in tree.iterfind(".//w:ComponentGroup[@Id='SalusFiles']/w:ComponentRef", NS)}
    assert components == refs and len(components) == 5
    ids = [e.get("Id", "") for e in tree.iter() if e.get("Id") and e.tag != f"{{{NS['w']}}}ComponentRef"]
    assert len(ids) == len(set(ids)) and all(WIX_ID.fullmatch(i) for i in ids if i != "INSTALLFOLDER")


def test_ids_are_stable_between_builds_so_upgrades_keep_their_components(tmp_path: Path) -> None:
    module = harvest()
    first = module.fragment(bundle(tmp_path / "a" / "salus"), "SalusFiles", "INSTALLFOLDER")
    second = module.fragment(bundle(tmp_path / "b" / "salus"), "SalusFiles", "INSTALLFOLDER")
    assert re.findall(r'Id="([^"]+)"', first) == re.findall(r'Id="([^"]+)"', second)


def test_policy_templates_go_to_the_policy_folder_and_are_an_empty_group_when_missing(tmp_path: Path) -> None:
    module = harvest()
    module.main(bundle(tmp_path / "salus"), tmp_path / "none", tmp_path / "empty")
    empty = parse(tmp_path / "empty" / "PolicyTemplates.wxs")
    assert empty.find(".//w:ComponentGroup[@Id='PolicyTemplates']", NS) is not None
    assert empty.find(".//w:File", NS) is None
    templates = tmp_path / "policy"
    (templates / "en-US").mkdir(parents=True)
    (templates / "Salus.admx").write_text("<policyDefinitions/>", "utf-8")
    (templates / "en-US" / "Salus.adml").write_text("<policyDefinitionResources/>", "utf-8")
    module.main(bundle(tmp_path / "salus"), templates, tmp_path / "with")
    tree = parse(tmp_path / "with" / "PolicyTemplates.wxs")
    policy_dir = tree.find(".//w:DirectoryRef[@Id='INSTALLFOLDER']/w:Directory[@Name='policy']", NS)
    assert policy_dir is not None
    names = sorted(
        Path(f.get("Source", "")).relative_to(templates).as_posix() for f in policy_dir.iterfind(".//w:File", NS)
    )
    assert names == ["Salus.admx", "en-US/Salus.adml"]
