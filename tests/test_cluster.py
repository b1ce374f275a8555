"""Scaling out: HAProxy (deploy/haproxy.cfg) in front of cloudooo servers,
started by ``cloudooo cluster``; a rolling restart loses no request, a
server killed outright loses only what it had in flight."""

import re
import signal
import subprocess
import xmlrpc.client

import psutil
import pytest

from cloudooo import cluster
from tests import documents
from tests.cluster_process import ClusterProcess, Job, kill_pid, run_load
from tests.ops_helpers import wait_for
from tests.server import CLOUDOOO

try:
    HAPROXY = cluster.find_haproxy()
except Exception:
    HAPROXY = None

needs_haproxy = pytest.mark.skipif(
    HAPROXY is None, reason="haproxy is not installed (make install "
    "installs Debian's haproxy package)")

PDF, ZIP, JPEG = b"%PDF-", b"PK\x03\x04", b"\xff\xd8\xff"


def mixed_jobs(prefix, count):
    """Text, spreadsheet, presentation and image conversions in turn."""
    kinds = [(documents.fodt(), "fodt", "pdf", PDF),
             (documents.fodt(), "fodt", "docx", ZIP),
             (documents.fods(), "fods", "xlsx", ZIP),
             (documents.fodp(), "fodp", "pdf", PDF),
             (documents.png(64, 64), "png", "jpg", JPEG)]
    return [Job("%s-%03d" % (prefix, number), *kinds[number % len(kinds)])
            for number in range(count)]


# -- the template and the plan: no LibreOffice needed -------------------------

@needs_haproxy
def test_template_is_valid_haproxy_configuration_as_shipped(tmp_path):
    result = subprocess.run(
        [HAPROXY, "-c", "-f", str(cluster.DEFAULT_TEMPLATE)],
        env={"CLOUDOOO_HAPROXY_SOCKET": str(tmp_path / "s.sock")},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    assert result.returncode == 0, result.stdout.decode()
    text = cluster.DEFAULT_TEMPLATE.read_text()
    for rule in ("balance leastconn", "option httpchk GET /ready",
                 "option redispatch", "retries 3"):
        assert rule in text
    # The cluster's drain notice is computed from the check timing.
    assert "inter %dms fall %d" % (cluster.CHECK_INTERVAL_SECONDS * 1000,
                                   cluster.CHECK_FALL) in text
    assert "timeout check %ds" % cluster.CHECK_TIMEOUT_SECONDS in text
    assert cluster.MIN_DRAIN_NOTICE_SECONDS > cluster.CHECK_INTERVAL_SECONDS \
        * cluster.CHECK_FALL + cluster.CHECK_TIMEOUT_SECONDS


def write_conf(path, **app):
    lines = ["[app:main]", "use = egg:cloudooo"]
    lines += ["%s = %s" % item for item in app.items()]
    lines += ["", "[server:main]", "use = egg:waitress#main",
              "host = 127.0.0.1", "port = 18011", "threads = 2"]
    path.write_text("\n".join(lines) + "\n")
    return path


@needs_haproxy
def test_plan_gives_each_server_its_ports_paths_and_ini(tmp_path):
    conf = write_conf(tmp_path / "c.ini", working_path=tmp_path / "var",
                      office_pool_size=2, openoffice_port=24000,
                      queue_timeout=30, timeout_response=100,
                      ffmpeg_timeout=50, max_request_size=1000)
    plan = cluster.ClusterPlan(conf, 3)
    assert plan.port == 18011
    assert [server.port for server in plan.servers] == [18012, 18013, 18014]
    assert [server.openoffice_port for server in plan.servers] == \
        [24000, 24002, 24004]
    assert len({server.working_path for server in plan.servers}) == 3
    assert plan.server_maxconn == 3  # pool 2 + 1 waiting
    assert plan.threads == 5  # raised: a /ready check always has a thread
    env = plan.haproxy_environment()
    assert env["CLOUDOOO_TIMEOUT_SERVER"] == "%ds" % (30 + 200 + 30)
    assert env["CLOUDOOO_TIMEOUT_QUEUE"] == "30s"
    assert env["CLOUDOOO_MAX_REQUEST_SIZE"] == "1000"
    assert env["CLOUDOOO_SERVER_MAXCONN"] == "3"
    plan.write_files()
    rendered = plan.haproxy_config_path.read_text()
    assert re.findall(r"^\s+server (\S+) (\S+)$", rendered, re.M) == [
        ("cloudooo1", "127.0.0.1:18012"), ("cloudooo2", "127.0.0.1:18013"),
        ("cloudooo3", "127.0.0.1:18014")]
    result = subprocess.run(
        [HAPROXY, "-c", "-f", str(plan.haproxy_config_path)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        timeout=60)
    assert result.returncode == 0, result.stdout.decode()
    # Each server's ini is CONF with three keys changed, as the server
    # itself loads it.
    from cloudooo.ops.preflight import load_settings
    second = load_settings(str(plan.servers[1].config_path))
    assert second.openoffice_port == 24002
    assert second.working_path == str(plan.servers[1].working_path)
    assert second.drain_notice_seconds == cluster.MIN_DRAIN_NOTICE_SECONDS
    assert second.timeout_response == 100 and second.max_request_size == 1000


def test_cluster_refuses_office_ports_on_its_http_ports(tmp_path):
    conf = write_conf(tmp_path / "c.ini", working_path=tmp_path / "var",
                      office_pool_size=2, openoffice_port=18013)
    result = subprocess.run(
        [CLOUDOOO, "cluster", str(conf), "--servers", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    assert result.returncode == 1
    assert b"office ports 18013-18016 include the HTTP port 18013" in \
        result.stdout


# -- the cluster under load ---------------------------------------------------

@pytest.fixture
def running_cluster(tmp_path):
    if HAPROXY is None:
        pytest.skip("haproxy is not installed (make install installs "
                    "Debian's haproxy package)")
    process = ClusterProcess(tmp_path, servers=2, office_pool_size=1,
                             limit_number_request=0)
    process.start()
    yield process
    if process.process is not None:
        code, survivors = process.stop()
        assert survivors == []


def failures(jobs):
    return {job.request_id: job.error for job in jobs if not job.ok}


def test_rolling_restart_and_crash_under_load(running_cluster):
    cluster_process = running_cluster
    url = cluster_process.url
    office_before = {name: cluster_process.office_pids(name)
                     for name in cluster_process.server_names()}
    assert all(office_before.values())

    # 1. SIGHUP to cloudooo1 mid-load: not one request fails.
    first_pid = cluster_process.server_pid("cloudooo1")
    rolling = run_load(url, mixed_jobs("rolling", 50), threads=4, when_done=[
        (8, lambda: kill_pid(first_pid, signal.SIGHUP))])
    assert failures(rolling) == {}
    log = cluster_process.haproxy_log()
    # /ready said 503 first: HAProxy took it out on its answer (Layer7),
    # not on a refused connection (Layer4) after the listener closed.
    assert re.search(r"Server cloudooo_servers/cloudooo1 is DOWN, reason: "
                     r"Layer7 wrong status, code: 503", log), log[-3000:]
    # It drains and exits on its own (the load may have ended sooner).
    wait_for(lambda: "cloudooo1 pid %d ended (exit code 0)" % first_pid
             in cluster_process.output(), timeout=60,
             what="cloudooo1 to drain and exit")
    entries = {entry["request_id"]: entry
               for entry in cluster_process.request_entries()}
    served_by = {entries[job.request_id]["server"] for job in rolling}
    assert served_by == {"cloudooo1", "cloudooo2"}

    # 2. Its replacement rejoins and takes work again.
    cluster_process.wait_all_up(exclude_pids=[first_pid])
    assert "Server cloudooo_servers/cloudooo1 is UP" in \
        cluster_process.haproxy_log()
    again = run_load(url, mixed_jobs("again", 12), threads=4)
    assert failures(again) == {}
    entries = {entry["request_id"]: entry
               for entry in cluster_process.request_entries()}
    on_first = [job.request_id for job in again
                if entries[job.request_id]["server"] == "cloudooo1"]
    assert on_first, "the restarted server got no work"
    first_log = cluster_process.server_log("cloudooo1")
    assert all("[req %s]" % request_id in first_log
               for request_id in on_first)

    # 3. kill -9 of cloudooo2 mid-load: only what it had in flight fails.
    second_pid = cluster_process.server_pid("cloudooo2")
    second_offices = cluster_process.office_pids("cloudooo2")
    assert second_offices
    crash = run_load(url, mixed_jobs("crash", 50), threads=4, when_done=[
        (8, lambda: kill_pid(second_pid, signal.SIGKILL))])
    failed = failures(crash)
    entries = {entry["request_id"]: entry
               for entry in cluster_process.request_entries()}
    # In flight on cloudooo2, by HAProxy's log: sent there, no answer.
    cut_off = {job.request_id for job in crash
               if entries[job.request_id]["server"] == "cloudooo2"
               and entries[job.request_id]["status"] != 200}
    assert set(failed) == cut_off
    # At most its slots (maxconn), plus what each client thread sent
    # into the dying process's listen backlog in the few milliseconds
    # before the kernel closed it (a connection accepted there is not
    # refused, so not retried).
    assert len(failed) <= cluster_process_maxconn(cluster_process) + 4
    for request_id, error in failed.items():
        assert isinstance(error, xmlrpc.client.ProtocolError), error
        assert error.errcode == 502
        # S: the server side ended it; H or D: the request had been sent
        # on an established connection (a refused one would be SC, 503).
        assert entries[request_id]["termination"][:2] in ("SH", "SD")
    # Everything HAProxy sent cloudooo2 is either in its request log
    # (answered) or among those failures.
    second_log = cluster_process.server_log("cloudooo2")
    for job in crash:
        if entries[job.request_id]["server"] == "cloudooo2":
            assert "[req %s]" % job.request_id in second_log or \
                job.request_id in failed
    # The dead server's soffice does not outlive it; a replacement joins.
    wait_for(lambda: not any(psutil.pid_exists(pid) and psutil.Process(
        pid).status() != psutil.STATUS_ZOMBIE for pid in second_offices),
        timeout=30, what="the killed server's soffice to be stopped")
    cluster_process.wait_all_up(exclude_pids=[second_pid])
    assert failures(run_load(url, mixed_jobs("after", 6), threads=2)) == {}

    # 4. SIGTERM stops everything, no soffice left, no request file left.
    offices = [pid for name in cluster_process.server_names()
               for pid in cluster_process.office_pids(name)]
    code, survivors = cluster_process.stop()
    assert code == 0, cluster_process.output()[-3000:]
    assert survivors == []
    assert not any(psutil.pid_exists(pid) for pid in offices)
    for name in cluster_process.server_names():
        working_path = cluster_process.cluster_path / name
        assert list((working_path / "tmp").iterdir()) == []
        assert [path for path in working_path.glob("instances/*/requests/**/*")
                if path.is_file()] == []


def test_sigusr2_restarts_every_server_in_turn_under_load(running_cluster):
    cluster_process = running_cluster
    old_pids = {name: cluster_process.server_pid(name)
                for name in cluster_process.server_names()}
    cluster_process.process.send_signal(signal.SIGUSR2)
    jobs = []
    # Load in batches until the rolling restart is over; bounded.
    for batch in range(30):
        jobs += run_load(cluster_process.url,
                         mixed_jobs("usr2-%02d" % batch, 8), threads=2)
        if "rolling restart done" in cluster_process.output():
            break
    output = cluster_process.output()
    assert "rolling restart done" in output, output[-3000:]
    assert failures(jobs) == {}
    # One at a time: cloudooo2 was asked to stop only once cloudooo1 was
    # back.
    assert output.index("rolling restart: cloudooo1 is back") < \
        output.index("rolling restart: stopping cloudooo2")
    states = cluster_process.wait_all_up(exclude_pids=old_pids.values())
    assert set(states) == {"cloudooo1", "cloudooo2"}
    log = cluster_process.haproxy_log()
    for name in old_pids:
        assert re.search(r"Server cloudooo_servers/%s is DOWN, reason: "
                         r"Layer7 wrong status, code: 503" % name, log)
    # SIGHUP to the cluster stops it all, as SIGTERM does.
    offices = [pid for name in cluster_process.server_names()
               for pid in cluster_process.office_pids(name)]
    code, survivors = cluster_process.stop(signal.SIGHUP)
    assert code == 0 and survivors == []
    assert offices and not any(psutil.pid_exists(pid) for pid in offices)


def test_cluster_killed_outright_takes_its_servers_along(running_cluster):
    cluster_process = running_cluster
    below = cluster_process.descendants()
    offices = [pid for name in cluster_process.server_names()
               for pid in cluster_process.office_pids(name)]
    assert len(offices) == 2 and len(below) >= 5  # haproxy, 2 x 2 + workers
    cluster_process.process.kill()
    cluster_process.process.wait(30)

    def all_gone():
        return not any(process.is_running() and process.status() !=
                       psutil.STATUS_ZOMBIE for process in below)
    try:
        wait_for(all_gone, timeout=60, what="the servers, their soffice "
                 "and HAProxy to stop without their cluster")
    finally:
        for process in below:  # do not leak them into the next test
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass
    cluster_process.process = None


def cluster_process_maxconn(cluster_process):
    return int(cluster_process.settings["office_pool_size"]) + \
        cluster.DEFAULT_QUEUE_PER_SERVER
