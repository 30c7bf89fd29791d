"""The AI model registry: models as DeviceDefinitions with their files, enabled per facility as Devices, and
``senhealth models list|show|enable|disable|register`` on a real database.

Spec: https://hl7.org/fhir/R4/devicedefinition.html, https://hl7.org/fhir/R4/device.html.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from imaging_ai_support import FACILITY, OTHER_FACILITY, audit_rows, audited, run_store, seed
from typer.testing import CliRunner

from senhealth.cli_models import models_app
from senhealth.core.config import get_settings
from senhealth.core.migrate import migrate
from senhealth.fhir.store import FhirStore
from senhealth.imaging.models import (
    DEMO_MODEL,
    ModelError,
    builtin_cards,
    disable,
    enable,
    enabled_models,
    find_model,
    list_models,
    model_file,
    register_builtin,
    register_model,
    suspend,
)
from senhealth.imaging.models.card import BUILTIN_DIR
from senhealth.imaging.models.definition import card_of, content_of

runner = CliRunner()


@pytest.fixture
def url(schema_url: str) -> Iterator[str]:
    migrate(schema_url)
    with audited():
        yield schema_url


def test_the_demonstration_model_ships_with_its_card_file_and_metrics() -> None:
    (card,) = [c for c in builtin_cards() if c.name == DEMO_MODEL]
    path = BUILTIN_DIR / card.file
    assert path.stat().st_size < 2_000_000
    assert hashlib.sha256(path.read_bytes()).hexdigest() == card.sha256
    assert "not for clinical use" in card.regulatory_status
    assert card.modalities == ("DX", "CR") and card.body_parts == ("CHEST",)
    assert card.licence and card.intended_use and card.intended_use_vi
    for metric in ("auc", "sensitivity", "specificity", "cases"):
        assert metric in card.validation
    assert card.validation["cases"] >= 1000


def test_register_enable_disable_suspend_and_match(url: str) -> None:
    async def body(store: FhirStore) -> None:
        await seed(store)
        await register_builtin(store)
        await register_builtin(store)  # idempotent: no second version
        (model,) = [m for m in await list_models(store) if m.card.name == DEMO_MODEL]
        stored = await store.read("DeviceDefinition", model.definition["id"])
        assert stored.version == 1
        definition = content_of(stored)
        assert card_of(definition).sha256 == model.card.sha256
        assert definition["safety"][0]["text"] == "demonstration — not for clinical use"
        assert definition["version"] == [model.card.version]
        assert any(p["type"]["coding"][0]["code"] == "validation-auc" for p in definition["property"])
        assert model_file(definition, None).name == "demo-chest-nodule.onnx"
        assert model.enablements == []

        assert await enabled_models(store, FACILITY, "DX", "CHEST") == []
        device = await enable(store, DEMO_MODEL, FACILITY)
        assert device["status"] == "active" and device["owner"] == {"reference": f"Organization/{FACILITY}"}
        assert device["definition"]["reference"] == f"DeviceDefinition/{definition['id']}"
        (hit,) = await enabled_models(store, FACILITY, "DX", "CHEST")
        assert hit.device["id"] == device["id"]
        assert await enabled_models(store, FACILITY, "CT", "CHEST") == []  # modality
        assert await enabled_models(store, FACILITY, "DX", "KNEE") == []  # body part
        assert len(await enabled_models(store, FACILITY, "CR", None)) == 1  # no body part given
        assert await enabled_models(store, OTHER_FACILITY, "DX", "CHEST") == []  # another facility

        await enable(store, DEMO_MODEL)  # every facility
        assert len(await enabled_models(store, OTHER_FACILITY, "DX", "CHEST")) == 1
        await disable(store, DEMO_MODEL, OTHER_FACILITY)  # the facility's own switch wins
        assert await enabled_models(store, OTHER_FACILITY, "DX", "CHEST") == []
        assert len(await enabled_models(store, FACILITY, "DX", "CHEST")) == 1

        changed = await suspend(store, DEMO_MODEL, reason="agreement 40% < 80%")
        assert {d["id"] for d in changed} == {device["id"], "ai-demo-chest-nodule-all"}
        assert await enabled_models(store, FACILITY, "DX", "CHEST") == []
        found = await find_model(store, DEMO_MODEL)
        states = {e.facility: (e.state, e.reason) for e in found.enablements}
        assert states == {
            None: ("suspended", "agreement 40% < 80%"),
            FACILITY: ("suspended", "agreement 40% < 80%"),
            OTHER_FACILITY: ("disabled", "disabled"),
        }
        with pytest.raises(ModelError) as e:
            await enable(store, DEMO_MODEL, "no-such-facility")
        assert e.value.status == 404
        with pytest.raises(ModelError):
            await enable(store, "no-such-model", FACILITY)
        rows = [(q, t) for q, t, _, _ in await audit_rows(store)]
        assert rows.count(("ai-model-register", "DeviceDefinition")) == 1
        assert rows.count(("ai-model-enable", "Device")) == 2
        assert rows.count(("ai-model-disable", "Device")) == 1
        assert rows.count(("ai-model-suspend", "Device")) == 2

    run_store(url, body)


def test_register_a_model_file_checks_its_digest(url: str, tmp_path: Path) -> None:
    (card,) = [c for c in builtin_cards() if c.name == DEMO_MODEL]
    onnx = tmp_path / "model.onnx"
    shutil.copyfile(BUILTIN_DIR / card.file, onnx)
    data = dict(card.raw, name="site-chest-nodule", version="2.1.0")
    card_path = tmp_path / "card.json"
    card_path.write_text(json.dumps(data), encoding="utf-8")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(dict(data, sha256="0" * 64)), encoding="utf-8")
    data_dir = tmp_path / "data"

    async def body(store: FhirStore) -> None:
        with pytest.raises(ModelError, match="SHA-256"):
            await register_model(store, bad, onnx, data_dir=data_dir)
        model = await register_model(store, card_path, onnx, data_dir=data_dir)
        copied = data_dir / "imaging-models" / "site-chest-nodule-2.1.0.onnx"
        assert copied.is_file()
        assert model_file(model.definition, data_dir) == copied
        copied.write_bytes(b"changed behind the registry's back")
        with pytest.raises(ModelError, match="SHA-256"):
            model_file(model.definition, data_dir)
        names = [m.card.label for m in await list_models(store)]
        assert "site-chest-nodule@2.1.0" in names

    run_store(url, body)


@pytest.fixture
def cli_db(url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    monkeypatch.setenv("SENHEALTH_DATABASE_URL", url)
    monkeypatch.setenv("SENHEALTH_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    run_store(url, seed)
    yield url
    get_settings.cache_clear()


def test_cli_list_enable_show_disable(cli_db: str) -> None:
    listed = runner.invoke(models_app, ["list"])
    assert listed.exit_code == 0, listed.output
    assert "demo-chest" in listed.output and "clinical use" in listed.output  # a table: cells may wrap

    enabled = runner.invoke(models_app, ["enable", DEMO_MODEL, "--facility", FACILITY])
    assert enabled.exit_code == 0, enabled.output
    assert f"Organization/{FACILITY}" in enabled.output

    shown = runner.invoke(models_app, ["show", DEMO_MODEL])
    assert shown.exit_code == 0, shown.output
    assert "auc" in shown.output and FACILITY in shown.output and "enabled" in shown.output

    as_json = runner.invoke(models_app, ["list", "--json"])
    assert as_json.exit_code == 0, as_json.output
    (entry,) = [m for m in json.loads(as_json.output) if m["name"] == DEMO_MODEL]
    assert entry["enablements"] == [{"facility": FACILITY, "state": "enabled", "reason": ""}]

    disabled = runner.invoke(models_app, ["disable", DEMO_MODEL, "--facility", FACILITY])
    assert disabled.exit_code == 0, disabled.output

    async def state(store: FhirStore) -> str:
        (en,) = (await find_model(store, DEMO_MODEL)).enablements
        return en.state

    assert run_store(cli_db, state) == "disabled"
    unknown = runner.invoke(models_app, ["enable", "no-such-model"])
    assert unknown.exit_code == 1
    assert "no such model" in unknown.output
