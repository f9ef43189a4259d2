"""The generic registry (`pds_mri.registry`): members listed in every error, default first, found by import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pds_mri.errors import PdsError
from pds_mri.registry import Registry, UnknownName, import_members


def test_register_get_and_an_unknown_name_lists_the_members() -> None:
    reg: Registry[type] = Registry("widget", default="b")

    @reg.register("a", help="the first")
    class A:
        pass

    reg.add("b", int, help="the default")
    assert reg.get("a") is A and reg.get("b") is int
    assert reg.names() == ("b", "a") == tuple(reg) and len(reg) == 2 and "a" in reg and "c" not in reg
    assert reg.default == "b" and reg.help("a") == "the first"
    assert reg.describe() == "b (the default), a (the first)"
    assert dict(reg.items()) == {"b": int, "a": A}
    with pytest.raises(UnknownName, match=r"--widget: unknown widget 'c'; choose one of b, a") as info:
        reg.get("c", "--widget")
    assert isinstance(info.value, PdsError) and isinstance(info.value, ValueError)  # one line, and pydantic-able
    with pytest.raises(ValueError, match="registered twice"):
        reg.add("a", str)


def test_a_missing_default_is_an_error_not_a_silent_first_member() -> None:
    reg: Registry[int] = Registry("thing", default="x")
    reg.add("y", 1)
    assert reg.names() == ("y",)
    with pytest.raises(ValueError, match="no default"):
        _ = reg.default


def test_import_members_imports_every_public_module_of_a_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one-file promise: a module dropped into the package registers itself, listed nowhere else."""
    pkg = tmp_path / "plugins_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "from pds_mri.registry import Registry, import_members\nREG = Registry('plugin')\n"
        "import_members(__name__, __path__)\n"
    )
    for name in ("zeta", "alpha", "_private"):
        (pkg / f"{name}.py").write_text(f"from plugins_pkg import REG\nREG.add({name!r}, {name!r})\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import plugins_pkg

    assert plugins_pkg.REG.names() == ("alpha", "zeta")  # sorted, private modules left out
    import_members("plugins_pkg", plugins_pkg.__path__)  # a second call registers nothing twice
    for mod in [m for m in sys.modules if m.startswith("plugins_pkg")]:
        del sys.modules[mod]


def test_the_registries_load_no_heavy_library() -> None:
    """The config and the CLI read these names: a member keeps torch, scikit-learn, scipy and dipy inside its
    functions, so `pds --help` and config validation stay fast and torch-free."""
    code = (
        "import sys, pds_mri.cli, pds_mri.diffusion.samplers, pds_mri.evaluation.classifiers, pds_mri.preprocess.maps;"
        "print(sorted(m for m in ('torch', 'sklearn', 'scipy', 'dipy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
