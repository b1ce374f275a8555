"""Small helpers for the operations tests: GET pages, bounded waiting."""

import json
import time
import urllib.error
import urllib.request


def get(port, path, timeout=10):
    """(status, body bytes, content type) of a GET on the server."""
    url = "http://127.0.0.1:%d%s" % (port, path)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return (response.status, response.read(),
                    response.headers.get("Content-Type"))
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers.get("Content-Type")


def get_json(port, path):
    status, body, _content_type = get(port, path)
    return status, json.loads(body)


def wait_for(predicate, timeout=90, interval=0.2, what="condition"):
    """Poll ``predicate`` until it returns something true; bounded."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %s" % what)
        time.sleep(interval)


def only_registry(server, rules):
    """Rewrite a ServerProcess's config so it routes only ``rules``."""
    text = server.config_path.read_text()
    head, _, rest = text.partition("mimetype_registry =\n")
    tail = rest[rest.index("\n\n"):]
    server.config_path.write_text(head + "mimetype_registry =\n" + "".join(
        "  %s\n" % rule for rule in rules) + tail.lstrip("\n").join(
        ["\n", ""]))
    return server
