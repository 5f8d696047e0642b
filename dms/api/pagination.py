"""How the API pages its lists: one convention, cursor pages, for every list.

A list answers `{"next", "previous", "results"}`: 25 rows by default, `?page_size=` up to 100,
in a fixed order that ends in a unique column (the list's `pagination_class`, e.g.
`cursor_pagination("-opened_at", "-id")`). Follow `next` until it is null. There is no total
count: counting a site's 100,000 repair orders for every page cost more than the page itself. A
cursor page is found through an index however deep the client pages, and does not skip or repeat
a row when rows are added meanwhile. The few short, bounded answers (a site's reminder rules,
one per kind; a repair order's lines; a vehicle's visits) are plain arrays, not lists to page.
"""

from __future__ import annotations

from base64 import b64decode
from urllib import parse

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from rest_framework import pagination
from rest_framework.exceptions import ValidationError

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100


class CursorPagination(pagination.CursorPagination):
    """Cursor pages in a fixed order (`ordering`: an indexed column first, a unique one last).

    A cursor that cannot be read is a 400 naming `cursor` (DRF answers 404), so a client that
    mangled or hand-made one is told which parameter is wrong."""

    page_size = DEFAULT_PAGE_SIZE
    page_size_query_param = "page_size"
    page_size_query_description = _("Rows per page (default 25, at most 100).")
    max_page_size = MAX_PAGE_SIZE
    cursor_query_description = _(
        "Opaque position in the list: take it from `next` or `previous`, never build it."
    )
    invalid_cursor_message = _("Invalid cursor: use the `next` or `previous` link as given.")
    ordering: tuple[str, ...] = ("id",)

    def paginate_queryset(self, queryset, request, view=None):
        self.model = queryset.model
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        try:
            # blank values kept: a page ending on a vehicle without a plate has the position ""
            tokens = parse.parse_qs(
                b64decode(encoded.encode("ascii"), validate=True).decode(), keep_blank_values=True
            )
            offset = int(tokens.get("o", ["0"])[0])
            reverse = bool(int(tokens.get("r", ["0"])[0]))
            position = tokens.get("p", [None])[0]
            if not 0 <= offset <= self.offset_cutoff:
                raise ValueError(offset)
            if position is not None:
                if "\x00" in position:
                    raise ValueError(position)
                # the position is compared with the first ordering column: it must be one
                field = self.model._meta.get_field(self.ordering[0].lstrip("-"))
                field.to_python(position)
        except (TypeError, ValueError, UnicodeError, DjangoValidationError):
            raise ValidationError(
                {self.cursor_query_param: [self.invalid_cursor_message]}
            ) from None
        return pagination.Cursor(offset=offset, reverse=reverse, position=position)


def cursor_pagination(*ordering: str) -> type[CursorPagination]:
    """A cursor pagination over `ordering`, e.g. `cursor_pagination("-opened_at", "-id")`."""
    return type("CursorPagination", (CursorPagination,), {"ordering": ordering})
