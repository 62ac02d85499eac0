"""docs/configuration.md names every setting Kiln reads, with its real default."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from kiln.config import Settings
from kiln.services.featurestore.settings import FeatureStoreSettings
from kiln.services.hosting.settings import HostingSettings

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
ROW = re.compile(r"^\| `(KILN_[A-Z0-9_]+)` \| ([^|]+) \|", re.M)


def _rows() -> dict[str, str]:
    return {name: default.strip() for name, default in ROW.findall(DOC.read_text())}


@pytest.mark.parametrize("cls", [Settings, HostingSettings, FeatureStoreSettings])
def test_every_setting_is_documented_with_its_default(cls: type[BaseSettings]) -> None:
    rows = _rows()
    prefix = cls.model_config["env_prefix"]
    for name, field in cls.model_fields.items():
        var = f"{prefix}{name}".upper()
        assert var in rows, f"{var} is missing from docs/configuration.md"
        default = field.default
        if isinstance(default, (int, float, str)) and not isinstance(default, bool):
            shown = rows[var].strip("`").split("`")[0]
            assert float(shown) == float(default) if isinstance(default, (int, float)) else shown == default, (
                f"{var}: the doc says {rows[var]!r}, the code {default!r}")


def test_the_doc_names_no_setting_that_does_not_exist() -> None:
    known = {f"{c.model_config['env_prefix']}{n}".upper()
             for c in (Settings, HostingSettings, FeatureStoreSettings) for n in c.model_fields}
    known.add("KILN_HOSTING_MULTIMODEL_MEMORY_MB")  # read from the environment when a replica starts
    assert set(_rows()) <= known, set(_rows()) - known
