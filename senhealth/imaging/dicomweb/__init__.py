"""DICOMweb pieces that know no HTTP framework: multipart/related bodies (:mod:`.multipart`), rendered
images and frames (:mod:`.render`). The routes are :mod:`senhealth.api.dicomweb`. docs/imaging-dicom.md."""
