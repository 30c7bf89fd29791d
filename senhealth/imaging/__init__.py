"""DICOMweb, the DICOM listener, the AI model registry, inference and radiologist review."""
