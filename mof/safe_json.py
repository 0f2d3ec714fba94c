"""JSON from outside (API bodies, form fields, CSV cells), refused cleanly when hostile.

Python's json accepts NaN and Infinity, reads 1e309 as infinity (which no id, number
field or database column takes) and recurses once per nesting level (a body of
100,000 "[" raised RecursionError: a 500). SafeDecoder refuses all three with a
JSONDecodeError, which every caller already turns into a 400 with a message:

    json.loads(text, cls=SafeDecoder)
"""

import json
import math

# Deeper than any document the portal stores (CI attributes, event details).
MAX_DEPTH = 64


def _refuse(message, text):
    return json.JSONDecodeError(message, text if isinstance(text, str) else "", 0)


def _constant(name):
    raise ValueError(f"{name} is not a number JSON allows.")


def _finite_float(literal):
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError(f"The number {literal[:40]} is out of range.")
    return value


def too_deep(data, limit: int = MAX_DEPTH) -> bool:
    """Is `data` (parsed JSON) nested deeper than `limit`? (No recursion.)"""
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


class SafeDecoder(json.JSONDecoder):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("parse_float", _finite_float)
        kwargs.setdefault("parse_constant", _constant)
        super().__init__(*args, **kwargs)

    def decode(self, text, *args, **kwargs):
        try:
            data = super().decode(text, *args, **kwargs)
        except RecursionError:
            raise _refuse(f"Nested deeper than {MAX_DEPTH} levels.", text) from None
        except json.JSONDecodeError:
            raise
        except ValueError as exc:  # from parse_float, parse_constant, or int() of 4,300+ digits
            raise _refuse(str(exc), text) from None
        if too_deep(data):
            raise _refuse(f"Nested deeper than {MAX_DEPTH} levels.", text)
        return data


def loads(text):
    return json.loads(text, cls=SafeDecoder)
