"""Argument checking for the published methods, declared once per method.

Each public method of the Manager states the types it accepts in its
annotations (``file: str``, ``request_dict: dict[str, str | None] | None``).
``checked`` binds a call to the method's signature (wrong number or names of
arguments) and checks every argument the client supplied against those
annotations, raising ``InvalidRequest`` (Fault 2) that names the method and
the argument.  A client's mistake thus never reaches the code as a wrong
type, where it would become an internal error with a traceback in the log.

Defaults the client did not send are not checked: ``data=None`` in a legacy
signature only keeps upstream's shape.
"""

import functools
import inspect
import types
import typing
import xmlrpc.client

from cloudooo.errors import InvalidRequest
from cloudooo.spool import SpooledDocument

# XML-RPC's own names for what a client sent, for messages clients read.
XMLRPC_TYPE_NAMES = (
    (bool, "boolean"),
    (int, "int"),
    (float, "double"),
    (str, "string"),
    (dict, "struct"),
    ((list, tuple), "array"),
    (type(None), "nil"),
    (xmlrpc.client.Binary, "base64 (Binary)"),
    (xmlrpc.client.DateTime, "dateTime"),
)


def xmlrpc_type_name(value):
    for python_type, name in XMLRPC_TYPE_NAMES:
        if isinstance(value, python_type):
            return name
    return type(value).__name__


def describe(expected):
    """``str | None`` -> 'a string or nil', for messages."""
    if expected is type(None):
        return "nil"
    if _is_union(expected):
        words = [describe(option) for option in typing.get_args(expected)]
        return ", ".join(words[:-1]) + " or " + words[-1]
    origin = typing.get_origin(expected) or expected
    if origin is dict:
        return "a struct"
    if origin is list:
        return "an array"
    return {bool: "a boolean", int: "an int", float: "a number",
            str: "a string", object: "any value"}.get(
                origin, getattr(origin, "__name__", str(origin)))


# ``str | None`` (3.10+) and ``Optional[str]`` are two kinds of union.
UNION_ORIGINS = (typing.Union, getattr(types, "UnionType", typing.Union))


def _is_union(expected):
    return typing.get_origin(expected) in UNION_ORIGINS


def mismatch(value, expected, where):
    """Where ``value`` (named ``where``) does not fit ``expected``: the
    message naming the first wrong part, or None when it fits."""
    if expected is object or expected is typing.Any:
        return None
    if _is_union(expected):
        options = typing.get_args(expected)
        # A container of the right kind but wrong contents: say which item.
        for option in options:
            if mismatch(value, option, where) is None:
                return None
        for option in options:
            origin = typing.get_origin(option)
            if origin is not None and isinstance(value, origin):
                return mismatch(value, option, where)
        return _wrong(value, expected, where)
    origin = typing.get_origin(expected)
    if origin is dict:
        if not isinstance(value, dict):
            return _wrong(value, expected, where)
        key_type, value_type = typing.get_args(expected)
        for key, item in value.items():
            problem = mismatch(key, key_type, "%s key" % where) or \
                mismatch(item, value_type, "%s[%r]" % (where, key))
            if problem:
                return problem
        return None
    if origin is list:
        if not isinstance(value, (list, tuple)):
            return _wrong(value, expected, where)
        (item_type,) = typing.get_args(expected)
        for index, item in enumerate(value):
            problem = mismatch(item, item_type, "%s[%d]" % (where, index))
            if problem:
                return problem
        return None
    if expected is bool:
        # Old clients send 0 and 1 for flags.
        if isinstance(value, bool) or (isinstance(value, int)
                                       and value in (0, 1)):
            return None
        return _wrong(value, expected, where)
    if expected is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return None
        return _wrong(value, expected, where)
    if expected is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return None
        return _wrong(value, expected, where)
    if isinstance(value, expected):
        return None
    if expected is str and isinstance(value, SpooledDocument):
        # A big document the XML-RPC layer already decoded to disk
        # (cloudooo.spool) stands for the base64 string it came as.
        return None
    return _wrong(value, expected, where)


def _wrong(value, expected, where):
    return "%s must be %s, not %s" % (where, describe(expected),
                                      xmlrpc_type_name(value))


def check_call(function, signature, hints, args, kwargs):
    """Bind ``args``/``kwargs`` to ``signature``; raise InvalidRequest for
    a wrong arity or a supplied argument that does not fit its hint."""
    name = function.__name__
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as error:
        raise InvalidRequest("%s: wrong arguments (%s); expected %s%s"
                             % (name, error, name, _public(signature)))
    for parameter, value in bound.arguments.items():
        expected = hints.get(parameter)
        if expected is None:
            continue
        problem = mismatch(value, expected, parameter)
        if problem:
            raise InvalidRequest("%s: %s" % (name, problem))


def _public(signature):
    """``(file, source_format, zip=False)``: the parameters clients see."""
    return "(%s)" % ", ".join(
        parameter.name if parameter.default is parameter.empty
        else "%s=%r" % (parameter.name, parameter.default)
        for parameter in signature.parameters.values()
        if parameter.name != "self")


def checked(method):
    """Wrap ``method`` so every call is checked against its signature and
    annotations before it runs."""
    signature = inspect.signature(method)
    hints = typing.get_type_hints(method)
    hints.pop("return", None)

    @functools.wraps(method)
    def checked_method(*args, **kwargs):
        check_call(method, signature, hints, args, kwargs)
        return method(*args, **kwargs)

    checked_method.arguments_checked = True
    return checked_method


def check_public_methods(cls):
    """Class decorator: every public method of ``cls`` gets ``checked``,
    unless it checks its own arguments already (legacy triples do, inside
    their error handling, so that a bad argument becomes a 402 triple)."""
    for name, value in list(vars(cls).items()):
        if name.startswith("_") or not inspect.isfunction(value):
            continue
        if not getattr(value, "arguments_checked", False):
            setattr(cls, name, checked(value))
    return cls
