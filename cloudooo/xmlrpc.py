"""XML-RPC over WSGI: one object's published methods, errors as Faults.

The only module that knows about XML-RPC.  Every exception becomes a Fault
here and nowhere else: ``CloudoooError`` subclasses keep their message and
stable ``fault_code``; anything else is logged with its traceback and
reported as an internal error without a Python repr.
"""

import inspect
import io
import logging
import threading
import xmlrpc.client
from xmlrpc.server import SimpleXMLRPCDispatcher

from cloudooo import xmlrpc_stream
from cloudooo.errors import CloudoooError, InvalidRequest, ServerStopping

logger = logging.getLogger(__name__)

INTERNAL_ERROR_CODE = 1

# What clients may call on the Manager: upstream cloudooo's API, nothing
# else.  A new public Manager method is not published until it is named here.
PUBLISHED_METHODS = (
    "convertFile", "getFileMetadataItemList", "updateFileMetadata",
    "getAllowedExtensionList", "getAllowedConversionFormatList",
    # ERP5's legacy triples
    "run_convert", "run_generate", "run_setmetadata", "run_getmetadata",
    "getAllowedTargetItemList",
    # granulation
    "getTableItemList", "getTable", "getColumnItemList", "getLineItemList",
    "getImageItemList", "getImage", "getParagraphItemList", "getParagraph",
    "getChapterItemList", "getChapterItem",
)


class Dispatcher(SimpleXMLRPCDispatcher):
    """Python's dispatcher with our error policy and introspection;
    publishes ``methods`` of ``instance`` and the ``system.*`` ones."""

    def __init__(self, instance, methods=PUBLISHED_METHODS):
        super().__init__(allow_none=True, encoding="utf-8",
                         use_builtin_types=False)
        for name in methods:
            self.register_function(getattr(instance, name), name)
        self.register_introspection_functions()
        self.register_multicall_functions()
        # Methods that do not bind their own arguments (the Manager's do,
        # see cloudooo.arguments) are bound here, before they run: a
        # TypeError raised inside a method is then never the client's.
        self.signatures_to_bind = {
            name: inspect.signature(function)
            for name, function in self.funcs.items()
            if not getattr(function, "arguments_checked", False)}
        # Where each method takes documents (base64 text the XML-RPC layer
        # may hand over spooled, see xmlrpc_stream): by argument name.
        names = set(getattr(instance, "document_arguments", ()))
        self.document_positions_by_method = {
            name: frozenset(
                index for index, argument in enumerate(
                    inspect.signature(function).parameters)
                if argument in names)
            for name, function in self.funcs.items()}

    def document_positions(self, method):
        return self.document_positions_by_method.get(method, frozenset())

    def _dispatch(self, method, params):
        for param in params:
            if isinstance(param, xmlrpc.client.Binary):
                raise xmlrpc.client.Fault(
                    InvalidRequest.fault_code,
                    "documents must be sent as base64-encoded strings "
                    "(base64.encodebytes(data).decode()), not xmlrpc "
                    "Binary objects")
        if method not in self.funcs:
            raise xmlrpc.client.Fault(
                INTERNAL_ERROR_CODE, "unknown method %r" % method)
        signature = self.signatures_to_bind.get(method)
        if signature is not None:
            try:
                signature.bind(*params)
            except TypeError as error:
                raise xmlrpc.client.Fault(InvalidRequest.fault_code,
                                          "%s: %s" % (method, error))
        try:
            return self.funcs[method](*params)
        except CloudoooError as error:
            logger.warning("%s failed: %s", method, error)
            raise xmlrpc.client.Fault(error.fault_code, str(error))
        except Exception as error:
            logger.exception("%s failed", method)
            raise xmlrpc.client.Fault(INTERNAL_ERROR_CODE,
                                      "internal error: %s" % (
                                          error or type(error).__name__))

    def _marshaled_dispatch(self, data, dispatch_method=None, path=None):
        """Bytes in, bytes out, as xmlrpc.server's dispatchers answer."""
        response = self.respond(io.BytesIO(data), len(data))
        try:
            return b"".join(response)
        finally:
            response.close()

    def respond(self, stream, length, spooling=None):
        """Parse once, dispatch, marshal: an xmlrpc_stream.Response.  With
        ``spooling``, big documents are read and written streaming.  A
        malformed body is the client's error, not a Python repr (as the
        base class would answer)."""
        try:
            params, method = xmlrpc_stream.parse_request(
                stream, length, self.document_positions, spooling)
        except Exception as error:
            response = xmlrpc.client.dumps(xmlrpc.client.Fault(
                InvalidRequest.fault_code,
                "malformed XML-RPC request: %s" % error),
                methodresponse=True, allow_none=True)
            return xmlrpc_stream.Response.of_bytes(response.encode("utf-8"))
        try:
            return xmlrpc_stream.method_response(
                self._dispatch(method, params))
        except xmlrpc.client.Fault as fault:
            response = xmlrpc.client.dumps(fault, allow_none=True,
                                           encoding="utf-8")
            return xmlrpc_stream.Response.of_bytes(
                response.encode("utf-8", "xmlcharrefreplace"))
        finally:
            xmlrpc_stream.close_documents(params)

    def system_methodSignature(self, method_name):
        """Parameter names, as upstream has no typed signatures."""
        function = self.funcs.get(method_name)
        if function is None:
            return "signatures not supported"
        return [list(inspect.signature(function).parameters)]


class XmlRpcApplication:
    """The WSGI callable.  ``in_flight`` counts requests being served, so the
    command line can drain them before stopping."""

    def __init__(self, instance, max_request_size, on_close=None,
                 on_interrupt=None, spooling=None,
                 methods=PUBLISHED_METHODS):
        self.dispatcher = self.make_dispatcher(instance, methods)
        self.max_request_size = max_request_size
        # xmlrpc_stream.Spooling: big documents streamed; None: never.
        self.spooling = spooling
        self._on_close = on_close
        self._on_interrupt = on_interrupt
        self._lock = threading.Lock()
        self.in_flight = 0
        self._refusing = False

    @property
    def refusing(self):
        """New calls get the "server stopping" Fault."""
        return self._refusing

    def refuse(self):
        """The server stops accepting work: every new call gets the
        "server stopping" Fault; calls in flight go on."""
        self._refusing = True

    def make_dispatcher(self, instance, methods):
        return Dispatcher(instance, methods)

    def close(self):
        """Stop the handlers (and their child processes).  Idempotent."""
        on_close, self._on_close = self._on_close, None
        if on_close is not None:
            on_close()

    def interrupt(self):
        """The drain time is running out: make the requests in flight end
        now, each with the "server stopping" Fault."""
        self.refuse()
        if self._on_interrupt is not None:
            self._on_interrupt()

    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD", "GET")
        if method == "OPTIONS":
            return self._respond(start_response, "200 OK", b"", "text/plain")
        if method != "POST":
            if method == "GET" and environ.get("PATH_INFO", "/") in ("", "/"):
                return self._respond(
                    start_response, "200 OK",
                    b"cloudooo XML-RPC document conversion server: "
                    b"POST XML-RPC calls to /RPC2\n", "text/plain")
            return self._respond(start_response, "400 Bad Request",
                                 b"XML-RPC needs POST\n", "text/plain")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0:
            return self._respond(start_response, "400 Bad Request",
                                 b"bad Content-Length\n", "text/plain")
        if length > self.max_request_size:
            return self._respond(start_response, "413 Payload Too Large",
                                 b"request larger than max_request_size\n",
                                 "text/plain")
        with self._lock:
            self.in_flight += 1
        response = None
        try:
            if self._refusing:
                stopping = ServerStopping()
                response = xmlrpc.client.dumps(xmlrpc.client.Fault(
                    stopping.fault_code, str(stopping)),
                    methodresponse=True, allow_none=True)
                response = xmlrpc_stream.Response.of_bytes(
                    response.encode("utf-8"))
            else:
                response = self.dispatcher.respond(
                    environ["wsgi.input"], length, self.spooling)
        finally:
            if response is not None and response.documents:
                # Still in flight while its documents stream out.
                response.on_close = self._request_done
            else:
                self._request_done()
        return self._respond(start_response, "200 OK", response, "text/xml")

    def _request_done(self):
        with self._lock:
            self.in_flight -= 1

    @staticmethod
    def _respond(start_response, status, body, content_type):
        """``body``: bytes, or an xmlrpc_stream.Response sent streaming."""
        if isinstance(body, bytes):
            body = xmlrpc_stream.Response.of_bytes(body)
        start_response(status, [
            ("Content-Type", content_type),
            ("Content-Length", str(body.length)),
            ("Access-Control-Allow-Origin", "*"),
            ("Access-Control-Allow-Headers", "Content-Type"),
        ])
        return body

