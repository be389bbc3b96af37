"""Where each field of an ISO metadata record lives: ISO 19139 (`gmd:MD_Metadata`, with the Swiss profile
`che:CHE_MD_Metadata` read as ISO 19139) and ISO 19115-3 (`mdb:MD_Metadata`, GeoNetwork 4 `iso19115-3.2018`).

The mapping (`iso.map_iso`) is written once against the `IsoPaths` of a record; only the paths differ:
- 19139: `gmd:fileIdentifier`, `gmd:dateStamp`, `gmd:CI_ResponsibleParty/gmd:organisationName`,
  `gmd:distributionInfo//gmd:CI_OnlineResource/gmd:linkage/gmd:URL`…; the Swiss profile substitutes its own
  elements (`che:CHE_CI_ResponsibleParty`, `che:CHE_MD_LegalConstraints`, `che:PT_FreeURL` linkages), hence `*`
  steps and the `che:LocalisedURL` alternative;
- 19115-3: `mdb:metadataIdentifier/mcc:MD_Identifier/mcc:code`, `mdb:dateInfo` (revision, else creation),
  `cit:CI_Responsibility/cit:party/cit:CI_Organisation/cit:name`, `mrd:onLine/cit:CI_OnlineResource/cit:linkage`…
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

GMD = "http://www.isotc211.org/2005/gmd"
CHE = "http://www.geocat.ch/2008/che"
MDB = "http://standards.iso.org/iso/19115/-3/mdb/2.0"
NS_19139 = {
    "gmd": GMD,
    "gco": "http://www.isotc211.org/2005/gco",
    "gmx": "http://www.isotc211.org/2005/gmx",
    "srv": "http://www.isotc211.org/2005/srv",
    "che": CHE,
    "xlink": "http://www.w3.org/1999/xlink",
}
_ISO3 = "http://standards.iso.org/iso/19115/-3/"
NS_19115_3 = {
    "mdb": MDB,
    "cit": _ISO3 + "cit/2.0",
    "mcc": _ISO3 + "mcc/1.0",
    "mri": _ISO3 + "mri/1.0",
    "mrd": _ISO3 + "mrd/1.0",
    "mco": _ISO3 + "mco/1.0",
    "mmi": _ISO3 + "mmi/1.0",
    "gex": _ISO3 + "gex/1.0",
    "lan": _ISO3 + "lan/1.0",
    "gco": _ISO3 + "gco/1.0",
    "gcx": _ISO3 + "gcx/1.0",
    "srv": _ISO3 + "srv/2.1",
    "xlink": "http://www.w3.org/1999/xlink",
}
# Root elements read as ISO 19139 or ISO 19115-3 records (local names; MI_ = imagery extension).
ISO_ROOTS = ("MD_Metadata", "MI_Metadata", "CHE_MD_Metadata")


@dataclass(frozen=True)
class IsoPaths:
    """The compiled XPaths of one ISO encoding. Each is relative to the element named in its comment."""

    name: str
    file_id: etree.XPath  # record
    date_stamp: etree.XPath  # record: the metadata date(s)
    level: etree.XPath  # record
    language: etree.XPath  # record
    parent: etree.XPath  # record
    ident: etree.XPath  # record: the first identification
    title: etree.XPath  # identification
    abstract: etree.XPath  # identification
    ci_dates: etree.XPath  # identification: citation CI_Date elements
    md_dates: etree.XPath  # record: metadata CI_Date elements (19115-3 only)
    date_value: etree.XPath  # CI_Date
    date_type: etree.XPath  # CI_Date
    res_ids: etree.XPath  # identification
    parties: etree.XPath  # identification
    md_contacts: etree.XPath  # record
    role: etree.XPath  # party
    org: etree.XPath  # party
    email: etree.XPath  # party
    keyword_groups: etree.XPath  # identification
    keywords: etree.XPath  # keyword group
    thesaurus: etree.XPath  # keyword group
    topics: etree.XPath  # identification
    constraints: etree.XPath  # identification
    href: etree.XPath  # constraint
    frequency: etree.XPath  # identification
    bbox: etree.XPath  # identification
    bbox_parts: dict[str, etree.XPath]  # bounding box
    online: etree.XPath  # record
    linkage: etree.XPath  # online resource
    protocol: etree.XPath  # online resource
    ol_name: etree.XPath  # online resource
    ol_desc: etree.XPath  # online resource
    function: etree.XPath  # online resource
    formats: etree.XPath  # record


def _compile(ns: dict[str, str], **paths: str) -> dict[str, etree.XPath]:
    return {k: etree.XPath(v, namespaces=ns) for k, v in paths.items()}


_TEXT_19139 = "*[self::gco:CharacterString or self::gmx:Anchor]/text()"
ISO19139 = IsoPaths(
    name="ISO 19139",
    bbox_parts={
        k: etree.XPath(
            f"gmd:{k}BoundLongitude/gco:Decimal/text() | gmd:{k}BoundLatitude/gco:Decimal/text()",
            namespaces=NS_19139,
        )
        for k in ("west", "east", "south", "north")
    },
    **_compile(
        NS_19139,
        file_id="gmd:fileIdentifier/*/text()",
        date_stamp="gmd:dateStamp/*/text()",
        level="gmd:hierarchyLevel/gmd:MD_ScopeCode/@codeListValue",
        language="gmd:language/gmd:LanguageCode/@codeListValue | gmd:language/gco:CharacterString/text()",
        parent="gmd:parentIdentifier/*/text()",
        ident="gmd:identificationInfo/*[1]",
        title=f"gmd:citation/*/gmd:title/{_TEXT_19139}",
        abstract=f"gmd:abstract/{_TEXT_19139}",
        ci_dates="gmd:citation/*/gmd:date/gmd:CI_Date",
        md_dates="gmd:no-such-element",
        date_value="gmd:date/*/text()",
        date_type="gmd:dateType/gmd:CI_DateTypeCode/@codeListValue | gmd:dateType/gmd:CI_DateTypeCode/text()",
        res_ids="gmd:citation/*/gmd:identifier/*/gmd:code/*/text()",
        parties="gmd:pointOfContact/*",
        md_contacts="gmd:contact/*",
        role="gmd:role/gmd:CI_RoleCode/@codeListValue",
        org="gmd:organisationName/*/text()",
        email="gmd:contactInfo/*/gmd:address/*/gmd:electronicMailAddress/*/text()",
        keyword_groups="gmd:descriptiveKeywords/gmd:MD_Keywords",
        keywords=f"gmd:keyword/{_TEXT_19139}",
        thesaurus="gmd:thesaurusName/*/gmd:title/*/text()",
        topics="gmd:topicCategory/gmd:MD_TopicCategoryCode/text()",
        constraints="gmd:resourceConstraints/*/gmd:otherConstraints/* "
        "| gmd:resourceConstraints/*/gmd:useLimitation/*",
        href="@xlink:href",
        frequency="gmd:resourceMaintenance/*/gmd:maintenanceAndUpdateFrequency/"
        "gmd:MD_MaintenanceFrequencyCode/@codeListValue",
        bbox="gmd:extent/*/gmd:geographicElement/gmd:EX_GeographicBoundingBox "
        "| srv:extent/*/gmd:geographicElement/gmd:EX_GeographicBoundingBox",
        online="gmd:distributionInfo//gmd:CI_OnlineResource",
        linkage="gmd:linkage/gmd:URL/text() | gmd:linkage/che:PT_FreeURL/che:URLGroup/che:LocalisedURL/text()",
        protocol="gmd:protocol/*/text()",
        ol_name="gmd:name/*/text()",
        ol_desc="gmd:description/*/text()",
        function="gmd:function/gmd:CI_OnLineFunctionCode/@codeListValue",
        formats="gmd:distributionInfo/*/gmd:distributionFormat/*/gmd:name/*/text()",
    ),
)

_TEXT_3 = "*[self::gco:CharacterString or self::gcx:Anchor]/text()"
_EMAIL_3 = "cit:contactInfo/cit:CI_Contact/cit:address/cit:CI_Address/cit:electronicMailAddress/*/text()"
ISO19115_3 = IsoPaths(
    name="ISO 19115-3",
    bbox_parts={
        k: etree.XPath(
            f"gex:{k}BoundLongitude/gco:Decimal/text() | gex:{k}BoundLatitude/gco:Decimal/text()",
            namespaces=NS_19115_3,
        )
        for k in ("west", "east", "south", "north")
    },
    **_compile(
        NS_19115_3,
        file_id="mdb:metadataIdentifier/mcc:MD_Identifier/mcc:code/*/text()",
        date_stamp="mdb:no-such-element",
        level="mdb:metadataScope/mdb:MD_MetadataScope/mdb:resourceScope/mcc:MD_ScopeCode/@codeListValue",
        language="mdb:defaultLocale/lan:PT_Locale/lan:language/lan:LanguageCode/@codeListValue",
        parent="mdb:parentMetadata/cit:CI_Citation/cit:identifier/mcc:MD_Identifier/mcc:code/*/text() "
        "| mdb:parentMetadata/@uuidref",
        ident="mdb:identificationInfo/*[1]",
        title=f"mri:citation/cit:CI_Citation/cit:title/{_TEXT_3}",
        abstract=f"mri:abstract/{_TEXT_3}",
        ci_dates="mri:citation/cit:CI_Citation/cit:date/cit:CI_Date",
        md_dates="mdb:dateInfo/cit:CI_Date",
        date_value="cit:date/*/text()",
        date_type="cit:dateType/cit:CI_DateTypeCode/@codeListValue | cit:dateType/cit:CI_DateTypeCode/text()",
        res_ids="mri:citation/cit:CI_Citation/cit:identifier/mcc:MD_Identifier/mcc:code/*/text()",
        parties="mri:pointOfContact/cit:CI_Responsibility",
        md_contacts="mdb:contact/cit:CI_Responsibility",
        role="cit:role/cit:CI_RoleCode/@codeListValue",
        org="cit:party/cit:CI_Organisation/cit:name/*/text() | cit:party/cit:CI_Individual/cit:name/*/text()",
        email=f"cit:party/cit:CI_Organisation/{_EMAIL_3} | cit:party/*/cit:individual/cit:CI_Individual/{_EMAIL_3}"
        f" | cit:party/cit:CI_Individual/{_EMAIL_3}",
        keyword_groups="mri:descriptiveKeywords/mri:MD_Keywords",
        keywords=f"mri:keyword/{_TEXT_3}",
        thesaurus="mri:thesaurusName/cit:CI_Citation/cit:title/*/text()",
        topics="mri:topicCategory/mri:MD_TopicCategoryCode/text()",
        constraints="mri:resourceConstraints/*/mco:otherConstraints/* "
        "| mri:resourceConstraints/*/mco:useLimitation/*",
        href="@xlink:href",
        frequency="mri:resourceMaintenance/mmi:MD_MaintenanceInformation/mmi:maintenanceAndUpdateFrequency/"
        "mmi:MD_MaintenanceFrequencyCode/@codeListValue",
        bbox="mri:extent/gex:EX_Extent/gex:geographicElement/gex:EX_GeographicBoundingBox "
        "| srv:extent/gex:EX_Extent/gex:geographicElement/gex:EX_GeographicBoundingBox",
        online="mdb:distributionInfo//mrd:onLine/cit:CI_OnlineResource",
        linkage="cit:linkage/*/text()",
        protocol="cit:protocol/*/text()",
        ol_name="cit:name/*/text()",
        ol_desc="cit:description/*/text()",
        function="cit:function/cit:CI_OnLineFunctionCode/@codeListValue",
        formats="mdb:distributionInfo/*/mrd:distributionFormat/mrd:MD_Format/mrd:formatSpecificationCitation/"
        "cit:CI_Citation/cit:title/*/text()",
    ),
)


def paths_for(md: etree._Element) -> IsoPaths:
    """The encoding of a record, from its root namespace (anything but `mdb` is read as ISO 19139)."""
    return ISO19115_3 if etree.QName(md).namespace == MDB else ISO19139
