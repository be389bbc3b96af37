"""Offset and next-link page iteration with a loop guard, shared by every connector.

A listing is incomplete when it serves fewer distinct ids than the portal announced, or when a page brings no id
that earlier pages did not already bring (a server that ignores the paging parameter, whatever its envelope):
`PageGuard` notices both, so that every connector applies the same rule.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

from harvester.errors import SourceError

T = TypeVar("T")
MAX_PAGES = 100_000


class PaginationLoop(SourceError):
    """The listing goes round in circles. Connectors stop there, keep what they read and mark it incomplete."""


class PageGuard:
    """Watches one listing: repeated next tokens, identical pages, pages with no new id, and the announced total."""

    def __init__(self, source_id: str | None = None, max_pages: int = MAX_PAGES) -> None:
        self.source_id = source_id
        self.max_pages = max_pages
        self.pages = 0
        self._tokens: set[str] = set()
        self._last_digest: str | None = None
        self.ids: set[str] = set()  # distinct ids served so far
        self.unnamed = 0  # entries served without an id (still served: they count against the total)
        self.announced: int | None = None  # the portal's total, as last announced

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
                raise PaginationLoop(
                    f"pagination loop: next page {token!r} was already read",
                    source_id=self.source_id,
                    url=url,
                )
            self._tokens.add(token)
        if content is not None:
            self.check_content(content, url=url)

    def seen_token(self, token: str) -> bool:
        """Whether `check(token=...)` was already given this token (checking it again would be a loop)."""
        return token in self._tokens

    def check_content(self, content: bytes, *, url: str | None = None) -> None:
        """Raise PaginationLoop when this page is byte-identical to the one before (pages are not counted)."""
        digest = hashlib.sha256(content).hexdigest()
        if digest == self._last_digest:
            raise PaginationLoop(
                "pagination loop: two consecutive pages are identical "
                "(the server probably ignores the paging parameter)",
                source_id=self.source_id,
                url=url,
            )
        self._last_digest = digest

    def page_ids(self, ids: Iterable[str | None], *, url: str | None = None, total: int | None = None) -> int:
        """Note the ids of the page just read (None for an entry without one) and the total it announces.

        Raises PaginationLoop when the page has ids and none of them is new. Returns the number of new ids.
        """
        if total is not None:
            self.announced = total
        named: list[str] = []
        for rid in ids:
            if rid:
                named.append(rid)
            else:
                self.unnamed += 1
        new = set(named) - self.ids
        if named and not new:
            raise PaginationLoop(
                f"pagination loop: page {max(self.pages, 1)} brings no new id ({len(named)} ids, all already "
                "read; the server probably ignores the paging parameter)",
                source_id=self.source_id,
                url=url,
            )
        self.ids |= new
        return len(new)

    @property
    def served(self) -> int:
        return len(self.ids) + self.unnamed

    def missing(self) -> int:
        """How many entries the portal announced but did not serve (0 when it gave no total)."""
        if self.announced is None:
            return 0
        return max(self.announced - self.served, 0)


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
