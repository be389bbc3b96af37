"""A large DCAT-AP catalogue cloned from one real record with nine distributions (bench and tests).

The record is opendata-hro.de's (Rostock) `dataset_gov_de.rdf`, DCAT-AP.de as served by CKAN's ckanext-dcat
(tests/fixtures/dcat/ckanext-dcat-examples/README.md): 9 distributions, blank-node contact point, publisher,
spatial and checksums. It is not the Rennes export the other DCAT figures use. Each clone gets a new dataset UUID
(so new dataset, distribution and landing-page IRIs and a new dct:identifier), its own download URLs, blank-node
ids, titles and a later dct:modified; clone 0 is the record as recorded.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from tests.portals.dcat_portal import real_datasets

ROSTOCK = "dcat/ckanext-dcat-examples/dataset_gov_de.rdf"
_UUID = "c1be4007-d811-48fb-8818-2cb358b06a63"
_TITLE = "Liefer- und Abholservices (Gastronomie)"
_NODE_ID = re.compile(r'rdf:nodeID="([^"]+)"')
_MODIFIED = re.compile(r"(<dct:modified[^>]*>)[^<]+(</dct:modified>)")


def rostock_record() -> str:
    (record,) = real_datasets(ROSTOCK)
    return record


def rostock_clone(record: str, i: int) -> str:
    """Clone `i` of the record: distinct IRIs, identifier, title, distributions, blank nodes and date."""
    if i == 0:
        return record
    out = record.replace(_UUID, f"{i:08x}{_UUID[8:]}")
    out = out.replace("lieferservices", f"lieferservices-{i}").replace(
        "homedeliveryservices", f"homedeliveryservices-{i}"
    )
    out = out.replace(f">{_TITLE}<", f">{_TITLE} n° {i}<")
    out = _NODE_ID.sub(lambda m: f'rdf:nodeID="{m.group(1)}c{i}"', out)
    when = (datetime(2024, 5, 8, tzinfo=UTC) + timedelta(minutes=i)).isoformat()
    return _MODIFIED.sub(rf"\g<1>{when}\g<2>", out, count=1)


def rostock_datasets(n: int) -> list[str]:
    record = rostock_record()
    return [rostock_clone(record, i) for i in range(n)]
