"""CKAN names and tags: what CKAN accepts, derived deterministically from a dataset's identity.

A dataset's CKAN name is a pure function of (source id, portal slug or remote id, remote id): readable, 2-100
characters of a-z, 0-9, '-' and '_', ending with a short hash of the identity so that two datasets whose slugs
clean to the same text still get different names. Once published, the name is never recomputed: the publisher
finds the dataset again through its provenance extras, so a later title or slug change does not rename it.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid
from collections.abc import Iterable

NAME_RE = re.compile(r"^[a-z0-9_-]{2,100}$")
MAX_NAME = 100
MIN_TAG, MAX_TAG = 2, 100
_TAG_BAD = re.compile(r"[^\w \-.]+", re.UNICODE)  # CKAN's tag_name_validator accepts [\w \-.]
# Namespace of the resource ids harvester gives CKAN (uuid5), so that updates keep resource ids.
RESOURCE_NS = uuid.UUID("5f0c3c1e-5b4e-4c55-9a3e-6a1d0c2b7e11")


def slugify(text: str) -> str:
    """Lower-case ASCII with '-' between words: 'Qualité de l’Air' -> 'qualite-de-l-air'."""
    decomposed = unicodedata.normalize("NFKD", text)
    folded = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    slug = re.sub(r"[^a-z0-9_-]+", "-", folded)
    slug = re.sub(r"-{2,}", "-", slug)
    return slug.strip("-_")


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def _compose(readable: str, suffix: str) -> str:
    head = readable[: MAX_NAME - len(suffix) - 1].rstrip("-_")
    return f"{head}-{suffix}" if head else f"ds-{suffix}"


def dataset_name(source_id: str, remote_id: str, slug: str | None = None) -> str:
    """The name a new dataset gets: '<source>-<portal slug or remote id>-<8 hex of the identity>'."""
    readable = slugify(f"{source_id}-{slug or remote_id}")
    return _compose(readable, _digest(source_id, remote_id)[:8])


def fallback_name(pipeline: str, source_id: str, remote_id: str, slug: str | None = None) -> str:
    """The name used when `dataset_name` is taken by a dataset harvester does not own (16 hex, pipeline included)."""
    readable = slugify(f"{source_id}-{slug or remote_id}")
    return _compose(readable, _digest(pipeline, source_id, remote_id)[:16])


def clean_tag(keyword: str) -> str | None:
    """A keyword as CKAN accepts it as a tag (characters, 2-100 long), or None when nothing usable is left."""
    text = unicodedata.normalize("NFC", keyword)
    text = _TAG_BAD.sub(" ", text)
    text = " ".join(text.split())[:MAX_TAG].strip()
    return text if len(text) >= MIN_TAG else None


def clean_tags(keywords: Iterable[str]) -> list[str]:
    """Cleaned, de-duplicated (case-insensitively, first spelling kept) tags, in their original order."""
    out: list[str] = []
    seen: set[str] = set()
    for k in keywords:
        tag = clean_tag(k) if k else None
        if tag and tag.lower() not in seen:
            seen.add(tag.lower())
            out.append(tag)
    return out


def resource_id(pipeline: str, resource_key: str) -> str:
    """A stable CKAN resource id: updates then keep each resource's id (and its URL in CKAN)."""
    return str(uuid.uuid5(RESOURCE_NS, f"{pipeline}\x1f{resource_key}"))
