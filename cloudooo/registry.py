"""The mimetype registry: which handler serves which pair of formats.

Rules come from the ``mimetype_registry`` setting, in order; patterns are
fnmatch patterns over mimetypes; the first rule that matches, and whose
handler can write the destination, wins (so raster -> svg passes the
ImageMagick rule by and reaches LibreOffice).  When a method has no
destination (metadata), only the source pattern counts, and handlers that
only convert (``Handler.converts_only``) are passed by.

A rule may carry a fourth word, a condition on the request:
``if-conversion-kw`` applies the rule only to conversions asked with a
non-empty ``conversion_kw`` (html -> pdf with page layout goes to Chromium,
plain html -> pdf to LibreOffice, as upstream routed to wkhtmltopdf).

The format lists go through here too: a handler is asked what it writes
only if the registry routes to it, and a pair it lists is kept only where
the registry routes that very pair to it, so that listed means convertible.
"""

from fnmatch import fnmatchcase

from cloudooo.errors import ConfigurationError, UnsupportedFormat
from cloudooo.formats import mimetype_for_extension
from cloudooo.ops.context import note

IF_CONVERSION_KW = "if-conversion-kw"
RULE_CONDITIONS = (IF_CONVERSION_KW,)


class HandlerRegistry:

    def __init__(self, rules, handlers):
        """``rules``: [(source_pattern, destination_pattern, handler_name
        [, condition])]; ``handlers``: {name: Handler}."""
        for rule in rules:
            name = rule[2]
            if name not in handlers:
                raise ConfigurationError(
                    "mimetype_registry: unknown handler %r (known: %s)"
                    % (name, ", ".join(sorted(handlers))))
            if len(rule) > 3 and rule[3] not in RULE_CONDITIONS:
                raise ConfigurationError(
                    "mimetype_registry: unknown condition %r (known: %s)"
                    % (rule[3], ", ".join(RULE_CONDITIONS)))
        if not rules:
            raise ConfigurationError("mimetype_registry: no rules; nothing "
                                     "could be converted")
        # Three words per rule, as everyone reads them; conditions apart.
        self.rules = [tuple(rule[:3]) for rule in rules]
        self.conditions = [rule[3] if len(rule) > 3 else None
                           for rule in rules]
        self.handlers = handlers

    def handler_name_for_mimetypes(self, source_mimetype,
                                   destination_mimetype=None,
                                   conversion_kw=None):
        for (source, destination, name), condition in zip(self.rules,
                                                          self.conditions):
            if not fnmatchcase(source_mimetype, source):
                continue
            if condition == IF_CONVERSION_KW and not conversion_kw:
                continue
            if destination_mimetype is None:
                if getattr(self.handlers[name], "converts_only", False):
                    continue
                return name
            if fnmatchcase(destination_mimetype, destination) and \
                    self.handlers[name].can_write(source_mimetype,
                                                  destination_mimetype):
                return name
        return None

    def handler_for(self, source_format, destination_format=None,
                    conversion_kw=None):
        """The handler for extensions ``source_format`` -> ``destination``
        (asked with ``conversion_kw``, which conditional rules look at)."""
        source_mimetype = mimetype_for_extension(source_format)
        if not source_mimetype:
            raise UnsupportedFormat("unknown source format %r"
                                    % source_format)
        destination_mimetype = None
        if destination_format is not None:
            destination_mimetype = mimetype_for_extension(destination_format)
            if not destination_mimetype:
                raise UnsupportedFormat("unknown destination format %r"
                                        % destination_format)
        note(source=source_format, destination=destination_format)
        name = self.handler_name_for_mimetypes(
            source_mimetype, destination_mimetype, conversion_kw)
        note(handler=name)
        if name is None:
            if destination_format is None:
                raise UnsupportedFormat("no handler for %s documents"
                                        % source_format)
            raise UnsupportedFormat("no handler converts %s to %s"
                                    % (source_format, destination_format))
        return self.handlers[name]

    def routed_handlers(self):
        """Every handler some rule names, in rule order."""
        found = []
        for _source, _destination, name in self.rules:
            if self.handlers[name] not in found:
                found.append(self.handlers[name])
        return found

    def allowed_extensions(self, source=None, document_type=None):
        """``[(extension, title)]`` the routed handlers write from the
        extension ``source``, or for the kind of document ``document_type``
        (only handlers with kinds of documents answer that: none when the
        registry does not route to LibreOffice)."""
        if source is None:
            return unique_pairs(
                pair for handler in self.routed_handlers()
                for pair in handler.allowed_extensions(
                    document_type=document_type))
        source_mimetype = mimetype_for_extension(source)
        if not source_mimetype:
            return []
        return self._routed_pairs(source_mimetype, lambda handler: [
            (mimetype_for_extension(extension), (extension, title))
            for extension, title in handler.allowed_extensions(source)])

    def allowed_conversion_formats(self, source_mimetype):
        """``[(mimetype, title)]`` the routed handlers write from
        ``source_mimetype`` (normalized)."""
        return self._routed_pairs(source_mimetype, lambda handler: [
            (mimetype, (mimetype, title)) for mimetype, title in
            handler.allowed_conversion_formats(source_mimetype)])

    def _routed_pairs(self, source_mimetype, listing):
        """The pairs ``listing(handler)`` gives as (target mimetype, pair)
        for each handler routed from ``source_mimetype``, kept where the
        registry routes source -> target to that handler."""
        pairs = []
        for handler in self.handlers_for_source(source_mimetype):
            for target_mimetype, pair in listing(handler):
                if self.handler_name_for_mimetypes(
                        source_mimetype, target_mimetype) == handler.name:
                    pairs.append(pair)
        return unique_pairs(pairs)

    def handlers_for_source(self, source_mimetype):
        """Every handler some rule routes ``source_mimetype`` to, in order."""
        found = []
        for source, _destination, name in self.rules:
            if fnmatchcase(source_mimetype, source) and \
                    self.handlers[name] not in found:
                found.append(self.handlers[name])
        return found


def unique_pairs(pairs):
    """Each pair once, as a tuple, in first-seen order."""
    return list(dict.fromkeys(tuple(pair) for pair in pairs))
