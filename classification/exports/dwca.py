"""Darwin Core Archive writer (no Django): tab-separated UTF-8 files, ``meta.xml`` and ``eml.xml`` in a zip.

Files are written without a quote character (``fieldsEnclosedBy=""``, as GBIF's IPT does), so tabs and
line breaks inside values are replaced by spaces. Rows are streamed from callables, one file at a time.
"""

import datetime as dt
import math
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

DWC = "http://rs.tdwg.org/dwc/terms/"
DC = "http://purl.org/dc/terms/"
EVENT = f"{DWC}Event"
OCCURRENCE = f"{DWC}Occurrence"
MEASUREMENT_OR_FACT = f"{DWC}MeasurementOrFact"
TEXT_NS = "http://rs.tdwg.org/dwc/text/"
EML_NS = "eml://ecoinformatics.org/eml-2.1.1"  # the version GBIF publishes


@dataclass(frozen=True)
class DwcFile:
    """One data file of the archive: its row type, its terms (full URIs, in column order) and its rows.

    ``id_index`` is the column of the core id (the core's own id, or an extension's link to the core).
    """

    filename: str
    row_type: str
    terms: Sequence[str]
    rows: Callable[[], Iterator[Sequence[Any]]]
    id_index: int = 0


@dataclass(frozen=True)
class DatasetMetadata:
    """What ``eml.xml`` says about the dataset."""

    title: str
    abstract: str
    publisher: str
    license_url: str
    license_name: str
    contact_email: str = ""
    language: str = "en"
    pub_date: dt.date | None = None
    package_id: str = ""


def format_value(value: Any) -> str:
    """A value as text in a tab-separated file: empty for None, integral floats without ".0", no tabs."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    text = str(value)
    return text.replace("\t", " ").replace("\r\n", " ").replace("\n", " ").replace("\r", " ")


def term_name(term: str) -> str:
    return term.rsplit("/", 1)[-1]


def meta_xml(core: DwcFile, extensions: Sequence[DwcFile]) -> bytes:
    ET.register_namespace("", TEXT_NS)
    archive = ET.Element(f"{{{TEXT_NS}}}archive", {"metadata": "eml.xml"})
    for kind, item in [("core", core), *(("extension", e) for e in extensions)]:
        element = ET.SubElement(
            archive,
            f"{{{TEXT_NS}}}{kind}",
            {
                "encoding": "UTF-8",
                "fieldsTerminatedBy": "\\t",
                "linesTerminatedBy": "\\n",
                "fieldsEnclosedBy": "",
                "ignoreHeaderLines": "1",
                "rowType": item.row_type,
            },
        )
        files = ET.SubElement(element, f"{{{TEXT_NS}}}files")
        ET.SubElement(files, f"{{{TEXT_NS}}}location").text = item.filename
        ET.SubElement(element, f"{{{TEXT_NS}}}{'id' if kind == 'core' else 'coreid'}", {"index": str(item.id_index)})
        for index, term in enumerate(item.terms):
            ET.SubElement(element, f"{{{TEXT_NS}}}field", {"index": str(index), "term": term})
    ET.indent(archive)
    return ET.tostring(archive, encoding="utf-8", xml_declaration=True)


def eml_xml(metadata: DatasetMetadata) -> bytes:
    ET.register_namespace("eml", EML_NS)
    root = ET.Element(
        f"{{{EML_NS}}}eml",
        {"packageId": metadata.package_id, "system": "fieldcollect", "scope": "system", "xml:lang": metadata.language},
    )
    dataset = ET.SubElement(root, "dataset")
    ET.SubElement(dataset, "title", {"xml:lang": metadata.language}).text = metadata.title
    for role in ("creator", "metadataProvider"):
        ET.SubElement(ET.SubElement(dataset, role), "organizationName").text = metadata.publisher
    ET.SubElement(dataset, "pubDate").text = (metadata.pub_date or dt.datetime.now(dt.UTC).date()).isoformat()
    ET.SubElement(dataset, "language").text = metadata.language
    ET.SubElement(ET.SubElement(dataset, "abstract"), "para").text = metadata.abstract
    rights = ET.SubElement(ET.SubElement(dataset, "intellectualRights"), "para")
    rights.text = "This work is licensed under "
    link = ET.SubElement(rights, "ulink", {"url": metadata.license_url})
    ET.SubElement(link, "citetitle").text = metadata.license_name
    link.tail = "."
    contact = ET.SubElement(dataset, "contact")
    ET.SubElement(contact, "organizationName").text = metadata.publisher
    if metadata.contact_email:
        ET.SubElement(contact, "electronicMailAddress").text = metadata.contact_email
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def write_dwca(
    *, core: DwcFile, extensions: Sequence[DwcFile], metadata: DatasetMetadata, stream: IO[bytes]
) -> dict[str, int]:
    """Write the archive into ``stream``; returns the number of data rows of each file."""
    counts: dict[str, int] = {}
    with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("meta.xml", meta_xml(core, extensions))
        archive.writestr("eml.xml", eml_xml(metadata))
        for item in (core, *extensions):
            count = 0
            with archive.open(item.filename, "w", force_zip64=True) as entry:
                entry.write(("\t".join(term_name(t) for t in item.terms) + "\n").encode())
                lines: list[str] = []
                for row in item.rows():
                    if len(row) != len(item.terms):
                        raise ValueError(f"{item.filename}: {len(row)} values for {len(item.terms)} terms")
                    lines.append("\t".join(format_value(v) for v in row))
                    count += 1
                    if len(lines) >= 1000:
                        entry.write(("\n".join(lines) + "\n").encode())
                        lines.clear()
                if lines:
                    entry.write(("\n".join(lines) + "\n").encode())
            counts[item.filename] = count
    return counts
