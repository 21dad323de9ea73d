"""A jinja2 sandbox with resource limits: templates are user input and must not freeze the process.

Jinja's own sandbox blocks Python internals but not resource use. This one bounds
- numbers: `**` and `*` on integers may not produce more than MAX_INT_BITS bits (`{{ 10**5000 }}`);
- sizes: every string or list an operator, call or filter produces stays within the output cap, and
  the operations that could allocate far more in one step (repetition, padding widths, replace, join,
  format widths) are checked before they run;
- work: ranges, lipsum and loop iterations have caps, and a deadline is checked in every hook
  (calls, operators, attribute access, each loop iteration), so a render stops after its time bound;
- compile time: intercepted operators and limit-checked filters cannot be folded into constants by
  jinja's compiler (it would otherwise evaluate `{{ 9**(9**9) }}` while merely parsing for variables).

Going past a limit raises LimitExceeded, which templating turns into a translated TemplateError."""
from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from functools import lru_cache, update_wrapper
from typing import Any, Iterator

MAX_INT_BITS = 4096          # ~1,200 decimal digits: far more than any prompt needs
MAX_RANGE = 10_000           # items in one range()
MAX_LIPSUM_PARAGRAPHS = 100
MAX_LIPSUM_WORDS = 1_000
MAX_LOOP_ITERATIONS = 100_000  # over a whole render, all loops together
_GUARD = "__promptmgr_iter__"
_CONCAT = "__promptmgr_concat__"
_DIGITS = re.compile(r"\d+")


class LimitExceeded(Exception):
    """A template went past a limit; `key` is a message key under limits.*, `params` its values."""

    def __init__(self, key: str, **params):
        self.key, self.params = key, params
        super().__init__(f"{key} {params}")


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 1_000_000
    seconds: float = 2.0


# Every string a render builds counts against this many times the output cap: the per-value cap
# alone lets a map over 10,000 items build 10,000 values just under it (hundreds of MB).
PRODUCED_FACTOR = 16


class _Budget(threading.local):
    deadline: float | None = None
    iterations: int = 0
    produced: int = 0
    limits: Limits = Limits()


_budget = _Budget()


class budget:
    """The limits of one render on this thread (renders do not nest)."""

    def __init__(self, limits: Limits):
        self.limits = limits

    def __enter__(self):
        self.saved = (_budget.deadline, _budget.iterations, _budget.produced, _budget.limits)
        _budget.deadline = time.monotonic() + self.limits.seconds
        _budget.iterations = 0
        _budget.produced = 0
        _budget.limits = self.limits
        return self

    def __exit__(self, *exc):
        _budget.deadline, _budget.iterations, _budget.produced, _budget.limits = self.saved
        return False


def tick() -> None:
    deadline = _budget.deadline
    if deadline is not None and time.monotonic() > deadline:
        raise LimitExceeded("limits.template_time", seconds=_budget.limits.seconds)


def _max_chars() -> int:
    return _budget.limits.max_bytes


def check_size(value: Any) -> Any:
    """A produced value must fit in the output cap (strings, lists, tuples, dicts), and all the text
    a render produces together must fit in PRODUCED_FACTOR times the cap."""
    if isinstance(value, (str, bytes, list, tuple, dict, set, frozenset)) and len(value) > _max_chars():
        raise LimitExceeded("limits.template_output", limit=_max_chars())
    if isinstance(value, (str, bytes)):
        _budget.produced += len(value)
        if _budget.produced > PRODUCED_FACTOR * _max_chars():
            raise LimitExceeded("limits.template_output", limit=_max_chars())
    return value


def _need(size: int) -> None:
    if size > _max_chars():
        raise LimitExceeded("limits.template_output", limit=_max_chars())


def _check_int(value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        raise LimitExceeded("limits.template_number", bits=MAX_INT_BITS)


def _check_args(args, kwargs) -> None:
    """No container argument whose printed form would not fit in the output cap."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, (list, tuple, dict, set, frozenset)):
            printed_size(value)


def _check_widths(args, kwargs) -> None:
    """Widths and counts (center, indent, wordwrap, zfill...): none larger than the output cap."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _max_chars():
            raise LimitExceeded("limits.template_argument", value=_short(value), limit=_max_chars())


# Filters and str methods whose integer arguments are widths or counts of what they produce.
_WIDTH_FILTERS = frozenset({"center", "indent", "wordwrap", "truncate", "batch", "slice"})
_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})
# Filters that turn their value into text: a container value is checked for its printed size.
_TEXT_FILTERS = frozenset({"string", "pprint", "tojson", "safe", "e", "escape", "forceescape", "urlencode",
                           "xmlattr", "trim", "upper", "lower", "title", "capitalize", "replace", "center",
                           "indent", "wordwrap", "truncate", "striptags", "wordcount", "urlize", "format"})


def printed_size(value: Any) -> int:
    """About how long str(value) is, refused past the cap. Containers can share references (a list
    of ten copies of a list of ten copies...), so their printed form can be exponentially larger
    than their memory; the walk stops as soon as the estimate passes the cap."""
    limit, total, stack = _max_chars(), 0, [value]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple, set, frozenset)):
            total += 2 + 2 * len(item)
            stack.extend(item)
        elif isinstance(item, dict):
            total += 2 + 4 * len(item)
            for key, val in item.items():
                stack.extend((key, val))
        elif isinstance(item, (str, bytes)):
            total += len(item) + 2
        else:
            total += 8
        if total > limit:
            raise LimitExceeded("limits.template_output", limit=limit)
    return total


def finalize(value: Any) -> Any:
    """Every `{{ expression }}` before it is printed."""
    if isinstance(value, (list, tuple, dict, set, frozenset)):
        printed_size(value)
    return value


def limited_concat(*values: Any) -> str:
    """`a ~ b ~ ...`, checked first: the joined size, and containers' printed size (str() of a
    shared-reference list can be huge)."""
    tick()
    texts = []
    for value in values:
        if isinstance(value, (list, tuple, dict, set, frozenset)):
            printed_size(value)
        texts.append(value if isinstance(value, str) else str(value))
    _need(sum(len(text) for text in texts))
    return "".join(texts)


def _short(value: int) -> str:
    return str(value) if value.bit_length() < 64 else f"~2^{value.bit_length()}"


def _format_widths(fmt: str, args=(), kwargs=None) -> None:
    """A format string's widths (`%999999d`, `{:>999999}`, `%*d`) must fit in the cap together."""
    widths = sum(int(d) for d in _DIGITS.findall(fmt) if len(d) < 12) + sum(
        1 for d in _DIGITS.findall(fmt) if len(d) >= 12) * (_max_chars() + 1)
    ints = [abs(v) for v in (*args, *(kwargs or {}).values()) if isinstance(v, int) and not isinstance(v, bool)]
    # Widths taken from the arguments: `%*d`, and a replacement field nested in a format spec.
    nested = len(re.findall(r"\{[^{}]*:[^{}]*\{", fmt))
    widths += (fmt.count("*") + nested) * max(ints, default=0)
    _need(widths)


def _repeat(left, right) -> None:
    for seq, times in ((left, right), (right, left)):
        if isinstance(seq, (str, bytes, list, tuple)) and isinstance(times, int):
            _need(len(seq) * max(times, 0))


def _binop_check(operator: str, left, right) -> None:
    if operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
        if right * max(abs(left).bit_length(), 1) > MAX_INT_BITS and abs(left) > 1:
            raise LimitExceeded("limits.template_number", bits=MAX_INT_BITS)
    elif operator == "*":
        _repeat(left, right)
        if isinstance(left, int) and isinstance(right, int) and \
                abs(left).bit_length() + abs(right).bit_length() > MAX_INT_BITS:
            raise LimitExceeded("limits.template_number", bits=MAX_INT_BITS)
    elif operator == "+" and isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
        _need(len(left) + len(right))
    elif operator == "%" and isinstance(left, str):
        _format_widths(left, right if isinstance(right, tuple) else (right,))
        for value in right if isinstance(right, tuple) else (right,):
            finalize(value)


def _replace_size(text: str, old: str, new: str, count: int = -1) -> int:
    hits = text.count(old) if old else len(text) + 1
    if count is not None and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * (len(new) - len(old))


def _join_size(sep: str, items: list) -> int:
    return len(sep) * max(len(items) - 1, 0) + sum(
        printed_size(item) if isinstance(item, (list, tuple, dict, set, frozenset)) else len(str(item))
        for item in items)


def _str_method_check(text: str, name: str, args, kwargs) -> tuple:
    """Before a str method runs: its result's size, for the methods that can grow a string."""
    if name == "replace" and len(args) >= 2:
        _need(_replace_size(text, str(args[0]), str(args[1]), args[2] if len(args) > 2 else -1))
    elif name == "join" and args:
        items = list(limited_iter(args[0]))
        _need(_join_size(text, items))
        args = (items, *args[1:])
    elif name == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        _need(len(text) + text.count("\t") * max(int(size), 0))
    elif name in ("format", "format_map"):
        _format_widths(text, args, kwargs)
    return args


def limited_iter(iterable) -> Iterator:
    """Iterate counting against the render's iteration cap, checking the deadline each step."""
    for item in iterable:
        _budget.iterations += 1
        if _budget.iterations > MAX_LOOP_ITERATIONS:
            raise LimitExceeded("limits.template_loops", limit=MAX_LOOP_ITERATIONS)
        tick()
        yield item


def limited_range(*args) -> range:
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise LimitExceeded("limits.template_range", limit=MAX_RANGE)
    return rng


def limited_lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:  # noqa: A002
    from jinja2.utils import generate_lorem_ipsum

    if not (isinstance(n, int) and isinstance(min, int) and isinstance(max, int)) or \
            n > MAX_LIPSUM_PARAGRAPHS or max > MAX_LIPSUM_WORDS or min > MAX_LIPSUM_WORDS:
        raise LimitExceeded("limits.template_lipsum", paragraphs=MAX_LIPSUM_PARAGRAPHS, words=MAX_LIPSUM_WORDS)
    return generate_lorem_ipsum(n=n, html=html, min=min, max=max)


def _filter_check(name: str, value, args, kwargs) -> None:
    if name in ("indent",) and isinstance(value, str):
        width = args[0] if args else kwargs.get("width", 4)
        width = len(width) if isinstance(width, str) else int(width)
        _need(len(value) + (value.count("\n") + 1) * max(width, 0))
    elif name == "replace" and isinstance(value, str) and len(args) >= 2:
        _need(_replace_size(value, str(args[0]), str(args[1]), args[2] if len(args) > 2 else -1))
    elif name == "format" and isinstance(value, str):
        _format_widths(value, args, kwargs)
    elif name == "center" and isinstance(value, str):
        _need(max(int(args[0]) if args else kwargs.get("width", 80), len(value)))
    elif name == "wordwrap" and isinstance(value, str):
        wrapstring = kwargs.get("wrapstring", args[3] if len(args) > 3 else None)
        _need(len(value) * (1 + len(str(wrapstring or "\n"))))


def _limited_filter(name: str, func):
    from jinja2.utils import _PassArg

    skip = 1 if _PassArg.from_obj(func) is not None else 0

    def wrapper(*args, **kwargs):
        tick()
        _check_args(args[skip + 1:], kwargs)
        if name in _WIDTH_FILTERS:
            _check_widths(args[skip + 1:], kwargs)
        value = args[skip] if len(args) > skip else None
        if name in _TEXT_FILTERS:
            finalize(value)
        if name == "join" and len(args) > skip:
            items = list(limited_iter(value))
            sep = args[skip + 1] if len(args) > skip + 1 else kwargs.get("d", "")
            _need(_join_size(str(sep), items))
            args = (*args[:skip], items, *args[skip + 1:])
        else:
            _filter_check(name, value, args[skip + 1:], kwargs)
        return check_size(func(*args, **kwargs))

    return update_wrapper(wrapper, func)


@lru_cache(maxsize=2)
def environment(keep_trailing_newline: bool = True):
    """The limited environment (stateless: the per-render budget lives in a thread-local). Prompt
    templates keep their trailing newline; builder templates (YAML block scalars) drop it."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class LimitedEnvironment(ImmutableSandboxedEnvironment):
        # Intercepted operators are never folded into constants at compile time (nodes.BinExpr).
        intercepted_binops = frozenset({"**", "*", "+", "%", "//", "/", "-"})

        def call_binop(self, context, operator, left, right):
            tick()
            _check_int(left)
            _check_int(right)
            _binop_check(operator, left, right)
            result = self.binop_table[operator](left, right)
            _check_int(result)
            return check_size(result)

        def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805  (jinja's signature)
            tick()
            if __obj is limited_iter:
                return limited_iter(*args)
            if __obj is limited_concat:
                return limited_concat(*args)
            _check_args(args, kwargs)
            owner = getattr(__obj, "__self__", None)
            if isinstance(owner, str):
                if getattr(__obj, "__name__", "") in _WIDTH_METHODS:
                    _check_widths(args, kwargs)
                args = _str_method_check(owner, getattr(__obj, "__name__", ""), args, kwargs)
            return check_size(super().call(__context, __obj, *args, **kwargs))

        def getattr(self, obj, attribute):
            tick()
            return super().getattr(obj, attribute)

        def getitem(self, obj, argument):
            tick()
            return super().getitem(obj, argument)

        def wrap_str_format(self, value):
            # jinja hands out its sandboxed str.format when the attribute is read; check its widths
            wrapped = super().wrap_str_format(value)
            if wrapped is None:
                return None
            fmt = value.__self__

            def checked(*args, **kwargs):
                _format_widths(fmt, args, kwargs)
                return check_size(wrapped(*args, **kwargs))

            return checked

    env = LimitedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=keep_trailing_newline,
                             optimized=False, finalize=finalize)
    env.globals.update(range=limited_range, lipsum=limited_lipsum, **{_GUARD: limited_iter, _CONCAT: limited_concat})
    env.filters = {name: _limited_filter(name, func) for name, func in env.filters.items()}
    return env


def guard(tree):
    """Route every `for` loop's iterable through limited_iter and every `~` through limited_concat
    (calls, so the deadline is checked too). Only for rendering: the guards' names
    would otherwise show up as template variables."""
    from jinja2 import nodes

    def call(name: str, node, args):
        return nodes.Call(nodes.Name(name, "load", lineno=node.lineno), args, [], None, None, lineno=node.lineno)

    for loop in list(tree.find_all(nodes.For)):
        loop.iter = call(_GUARD, loop.iter, [loop.iter])
    # Concat nodes become calls: replace them where they sit, inside whatever node holds them.
    for parent in reversed(list(tree.find_all(nodes.Node))):  # innermost first
        for name, value in parent.iter_fields():
            if isinstance(value, nodes.Concat):
                setattr(parent, name, call(_CONCAT, value, value.nodes))
            elif isinstance(value, list) and any(isinstance(v, nodes.Concat) for v in value):
                setattr(parent, name, [call(_CONCAT, v, v.nodes) if isinstance(v, nodes.Concat) else v
                                       for v in value])
    return tree
