"""The UNO worker protocol (protocol.py) and the server's end of the channel
(connection.py), over real pipes to a small child that plays the worker."""

import subprocess
import sys
import textwrap

import pytest

from cloudooo.handler.ooo import protocol
from cloudooo.handler.ooo.connection import WorkerConnection
from cloudooo.handler.ooo.protocol import WorkerLost, WorkerTimeout

REPLY_ERRORS = [protocol.TaskError, protocol.LoadError,
                protocol.UnsupportedExport, protocol.PasswordFailure,
                protocol.InvalidOption, protocol.OfficeDisposed]

# Says it is ready, then for each request writes the line the request
# carries in "say" (or exits, or says nothing, as the request asks).
PLAYED_WORKER = textwrap.dedent("""
    import json, os, sys
    print(json.dumps({"ready": True, "pid": os.getpid()}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        if request.get("exit") is not None:
            sys.exit(request["exit"])
        if "say" in request:
            sys.stdout.write(request["say"] + "\\n")
            sys.stdout.flush()
""")


@pytest.fixture
def connection():
    popen = subprocess.Popen([sys.executable, "-c", PLAYED_WORKER],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    connection = WorkerConnection(popen)
    assert connection.wait_ready(10) == popen.pid
    yield connection
    connection.close()
    try:
        popen.wait(10)
    finally:
        popen.kill()
        popen.wait()
        popen.stdout.close()


def saying(reply):
    return {"op": protocol.CONVERT, "say": protocol.encode(reply).rstrip()}


def test_every_reply_kind_comes_back_as_its_error():
    for error_class in REPLY_ERRORS:
        reply = protocol.error_reply(error_class("what happened"))
        with pytest.raises(error_class) as caught:
            protocol.result_of(protocol.decode(protocol.encode(reply)))
        assert type(caught.value) is error_class
        assert str(caught.value) == "what happened"
    kinds = [error_class.kind for error_class in REPLY_ERRORS]
    assert len(set(kinds)) == len(kinds)


def test_unknown_reply_kinds_and_empty_messages_are_task_errors():
    with pytest.raises(protocol.TaskError) as caught:
        protocol.result_of({"ok": False, "kind": "novel"})
    assert str(caught.value) == "conversion failed"
    assert protocol.result_of(protocol.ok_reply({"a": [1]})) == {"a": [1]}


def test_requests_name_known_operations_only():
    assert protocol.operation_of({"op": protocol.GET_METADATA}) == \
        "get_metadata"
    with pytest.raises(ValueError):
        protocol.operation_of({"op": "format_disk"})
    with pytest.raises(ValueError):
        protocol.decode(b"[1, 2]")


def test_a_worker_that_is_not_ready_is_lost():
    assert protocol.check_ready(protocol.ready_message(42)) == 42
    with pytest.raises(WorkerLost) as caught:
        protocol.check_ready(protocol.not_ready_message("no soffice"))
    assert "no soffice" in str(caught.value)


def test_results_and_typed_errors_cross_the_pipe(connection):
    assert connection.call(saying(protocol.ok_reply([1, "two"])), 10) == \
        [1, "two"]
    with pytest.raises(protocol.PasswordFailure) as caught:
        connection.call(saying(protocol.error_reply(
            protocol.PasswordFailure("password required"))), 10)
    assert str(caught.value) == "password required"
    # The channel is still in step after an error.
    assert connection.call(saying(protocol.ok_reply(True)), 10) is True


def test_no_answer_is_a_timeout_and_the_reply_still_comes(connection):
    connection.send({"op": protocol.CONVERT})  # the child says nothing
    with pytest.raises(WorkerTimeout):
        connection.receive(0.05)
    connection.send(saying(protocol.ok_reply("late")))
    assert connection.receive(10) == "late"


def test_garbage_is_a_lost_worker(connection):
    with pytest.raises(WorkerLost) as caught:
        connection.call({"op": protocol.CONVERT, "say": "not json"}, 10)
    assert "garbage" in str(caught.value)
    assert not isinstance(caught.value, WorkerTimeout)


def test_an_exit_is_a_lost_worker_with_its_exit_code(connection):
    with pytest.raises(WorkerLost) as caught:
        connection.call({"op": protocol.CONVERT, "exit": 3}, 10)
    assert "closed its output" in str(caught.value)
    connection.popen.wait(10)
    with pytest.raises(WorkerLost) as caught:
        connection.send({"op": protocol.CONVERT})
    assert "not running" in str(caught.value)


def test_the_worker_script_finds_the_protocol_beside_it():
    """unoworker.py runs under the UNO Python, outside the server's
    virtualenv: it imports protocol.py as its sibling file."""
    from cloudooo.handler.ooo.process import WORKER_FILES, WORKER_SCRIPT
    assert all(path.startswith(WORKER_SCRIPT.rsplit("/", 1)[0])
               for path in WORKER_FILES)
    done = subprocess.run(["/usr/bin/python3", "-I", WORKER_SCRIPT, "--help"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "--office-argv" in done.stdout
