"""DCAT catalogues: the `dcat` connector (`connector.py`), RDF parsing (`parse.py`, `rdf_fast.py`,
`jsonld_contexts.py`), the DCAT → DatasetRecord field mapping (`fields.py`) and RDF vocabulary (`rdf_terms.py`).

Nothing is imported here, so that `harvester.connectors.dcat.parse` can be used without the connector."""
