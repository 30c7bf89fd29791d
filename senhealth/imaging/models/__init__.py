"""The imaging AI model registry: ONNX models with their cards, as DeviceDefinition and Device resources.

Spec: https://hl7.org/fhir/R4/devicedefinition.html, https://hl7.org/fhir/R4/device.html,
https://onnx.ai/. Docs: docs/imaging-ai.md.

- :mod:`.card`: the model card (intended use, modality, body part, version, validation metrics, licence,
  regulatory status, file digest);
- :mod:`.definition`: card ⇄ DeviceDefinition, the per-facility Device;
- :mod:`.registry`: register, list, enable, disable, suspend, and the models enabled for a study;
- :mod:`.config`: ``SENHEALTH_IMAGING_AI_*`` settings;
- :mod:`.phantom`, :mod:`.phantom_dicom`, :mod:`.preprocess`: the demonstration model's synthetic data
  and input (``demo-chest-nodule``, trained by ``scripts/train_demo_chest_nodule.py``; its file and card
  are in ``data/``).
"""

from senhealth.imaging.models.card import DEMO_MODEL, CardError, ModelCard, builtin_cards
from senhealth.imaging.models.registry import (
    EnabledModel,
    Enablement,
    ModelError,
    RegisteredModel,
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

__all__ = [
    "DEMO_MODEL",
    "CardError",
    "EnabledModel",
    "Enablement",
    "ModelCard",
    "ModelError",
    "RegisteredModel",
    "builtin_cards",
    "disable",
    "enable",
    "enabled_models",
    "find_model",
    "list_models",
    "model_file",
    "register_builtin",
    "register_model",
    "suspend",
]
