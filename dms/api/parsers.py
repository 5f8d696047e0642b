"""The API's JSON parser: DRF's, with a limit on nesting (a deeply nested body is a 400, not a
RecursionError deep in the parser or a serializer)."""

from django.utils.translation import gettext as _
from rest_framework import parsers

from dms.exceptions import ApplicationError

MAX_DEPTH = 32


def depth(data) -> int:
    """How deeply lists and objects nest in parsed JSON (iterative: no recursion)."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            data = None
        else:
            if depth(data) <= MAX_DEPTH:
                return data
        msg = _("The JSON body is nested more than %(max)s levels deep.") % {"max": MAX_DEPTH}
        raise ApplicationError(msg, fields={"body": msg})
