"""Offset and next-link page iteration with a loop guard, shared by every connector."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from harvester.errors import SourceError

T = TypeVar("T")
MAX_PAGES = 100_000


class PageGuard:
    """Stops a listing that goes round in circles: a repeated next token or two identical pages in a row."""

    def __init__(self, source_id: str | None = None, max_pages: int = MAX_PAGES) -> None:
        self.source_id = source_id
        self.max_pages = max_pages
        self.pages = 0
        self._tokens: set[str] = set()
        self._last_digest: str | None = None

    def check(
        self, *, token: str | None = None, content: bytes | None = None, url: str | None = None
    ) -> None:
        self.pages += 1
        if self.pages > self.max_pages:
            raise SourceError(
                f"more than {self.max_pages} pages: giving up", source_id=self.source_id, url=url
            )
        if token is not None:
            if token in self._tokens:
                raise SourceError(
                    f"loop detected in pagination: next page {token!r} was already read",
                    source_id=self.source_id,
                    url=url,
                )
            self._tokens.add(token)
        if content is not None:
            digest = hashlib.sha256(content).hexdigest()
            if digest == self._last_digest:
                raise SourceError(
                    "loop detected in pagination: two consecutive pages are identical "
                    "(the server probably ignores the paging parameter)",
                    source_id=self.source_id,
                    url=url,
                )
            self._last_digest = digest


def iter_offset(
    fetch_page: Callable[[int, int], tuple[Sequence[T], int | None]],
    page_size: int,
    *,
    start: int = 0,
    limit: int | None = None,
) -> Iterator[T]:
    """Yield items page by page. `fetch_page(offset, size)` returns (items, total or None).

    Stops on an empty or short page, or once `total` (when the server gives one) or `limit` is reached, so no
    request is sent past the end.
    """
    offset = start
    seen = 0
    while True:
        size = page_size if limit is None else min(page_size, limit - seen)
        if size <= 0:
            return
        items, total = fetch_page(offset, size)
        yield from items
        seen += len(items)
        offset += len(items)
        if not items or len(items) < size:
            return
        if total is not None and offset >= total:
            return


def iter_next_link(
    first: str, fetch_page: Callable[[str], tuple[Sequence[T], str | None]], guard: PageGuard | None = None
) -> Iterator[T]:
    """Yield items following next links (`next_page`, `hydra:next`…) with a loop guard."""
    guard = guard or PageGuard()
    url: str | None = first
    while url:
        guard.check(token=url, url=url)
        items, url = fetch_page(url)
        yield from items
