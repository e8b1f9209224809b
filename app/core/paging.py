"""Pages of long lists that cost the same at a thousand rows and at a million."""

from __future__ import annotations

from functools import cached_property

from django.core.paginator import Paginator

PAGE_SIZE = 25  # rows per page in the clinical lists

# Nobody reads page 401 of a worklist; they narrow it by date or patient. Counting (and OFFSET)
# stop here, so page 1 and the last page offered both answer in a few milliseconds at 1,000,000
# studies, where COUNT(*) and deep OFFSETs over the whole archive took hundreds.
MAX_ROWS = 10_000


class CappedPaginator(Paginator):
    """A Paginator that counts at most `max_rows` matches and offers only their pages.
    `capped` says that more matched (the pager then says so and how to narrow the list)."""

    def __init__(self, object_list, per_page: int, max_rows: int | None = None) -> None:  # noqa: ANN001
        super().__init__(object_list, per_page)
        self.max_rows = max_rows or MAX_ROWS

    @cached_property
    def _matching(self) -> int:
        # Without the ordering: the count is the same, and the database may then find the matches
        # by the filter's own index (a patient's few studies) instead of walking the list's order.
        return self.object_list.order_by()[: self.max_rows + 1].count()

    @cached_property
    def count(self) -> int:
        return min(self._matching, self.max_rows)

    @property
    def capped(self) -> bool:
        return self._matching > self.max_rows
