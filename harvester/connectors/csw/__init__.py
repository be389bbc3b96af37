"""OGC CSW catalogues: the `csw` connector (`connector.py`), GetRecords requests and pages (`request.py`), the
ISO 19139 / 19115-3 mapping (`iso.py`) and the XPaths of each ISO encoding (`iso_paths.py`)."""
