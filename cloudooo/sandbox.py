"""The sandbox every child that parses documents runs in: one place.

With ``sandbox = bwrap`` each such child (an office instance -- soffice.bin
and its UNO worker together --, ffmpeg/ffprobe, ImageMagick, poppler, the
pypdf helper) starts under bubblewrap, and this module alone decides what it
sees.  The view:

- its own user, PID, IPC, UTS, cgroup and network namespaces: the network
  has only a loopback interface (soffice and its worker speak UNO over it),
  nothing outside the sandbox is reachable;
- read-only: /usr (with Debian's /bin, /lib... symlinks), a synthetic /etc
  (passwd and group naming one user, hosts) plus the few host /etc entries
  the tools read (fontconfig, ld.so.cache, alternatives, LibreOffice and
  ImageMagick configuration), and the program files named by the settings;
- /proc, a minimal /dev, a private /tmp;
- read-write: only the directories the caller names (the request's folder;
  for an office instance, its profile, its /tmp and its request area).

Everything else -- /root, /home, the host's /etc/passwd and /etc/shadow,
other requests' folders, the server's configuration -- does not exist inside.
The process runs under ``prlimit``: address space, file size and process
count are capped per sandbox.  The child dies with its parent and runs in a
new session (no terminal to inject keystrokes into).

``sandbox = none`` runs the same argv without bubblewrap (limits still
apply); the link check is then the only layer.
"""

import logging
import os
import re
import subprocess
import threading

from cloudooo.errors import ConfigurationError

logger = logging.getLogger(__name__)

BWRAP = "/usr/bin/bwrap"
PRLIMIT = "/usr/bin/prlimit"
MODES = ("bwrap", "none")

# The one user that exists inside (uid and gid inside the user namespace).
SANDBOX_UID = 1000
SANDBOX_USER = "cloudooo"

# Host directories bound read-only when they exist: system programs and
# libraries, and the caches fontconfig and ld.so keep outside /usr.
SYSTEM_DIRECTORIES = ("/usr", "/var/cache/fontconfig")
# Top-level names that are symlinks into /usr on merged-/usr systems
# (Debian 12) and real directories elsewhere.
USR_MERGED_NAMES = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# Host /etc entries the tools read; none of them holds a secret.
HOST_ETC_ENTRIES = (
    "/etc/ld.so.cache",         # the dynamic loader's library index
    "/etc/alternatives",        # Debian: /usr/bin/convert -> alternatives
    "/etc/fonts",               # fontconfig
    "/etc/libreoffice",         # Debian's sofficerc and registry parts
    "/etc/ImageMagick-6",       # delegates, coders, system policy
    "/etc/ImageMagick-7",
    "/etc/localtime",
    "/etc/mime.types",
)
PROBE_TIMEOUT_SECONDS = 30
# The server's environment variables a sandboxed child keeps (with the
# ``env-*`` keys of the configuration): locale, paths and the tools' own.
ENVIRONMENT_KEPT = re.compile(
    r"^(PATH|LANG|LANGUAGE|LC_[A-Z_]+|TZ|PYTHONPATH|TMPDIR|"
    r"MAGICK_[A-Z_]+|SAL_[A-Z_]+|OMP_[A-Z_]+|FONTCONFIG_[A-Z_]+)$")


class SandboxLimits:
    """Resource limits of one sandbox; None leaves a limit as inherited."""

    def __init__(self, address_space_bytes=None, file_size_bytes=None,
                 process_count=None):
        self.address_space_bytes = address_space_bytes
        self.file_size_bytes = file_size_bytes
        self.process_count = process_count

    def prlimit_argv(self):
        """``prlimit --as=... --fsize=... --nproc=... --`` or [] when no
        limit is set."""
        options = []
        for option, value in (("--as", self.address_space_bytes),
                              ("--fsize", self.file_size_bytes),
                              ("--nproc", self.process_count)):
            if value:
                options.append("%s=%d" % (option, value))
        return [PRLIMIT] + options + ["--"] if options else []


class Sandbox:
    """Builds the argv of sandboxed children; see the module docstring.

    ``etc_path`` is a directory of the server's own (under working_path)
    where the synthetic /etc files are written once.
    """

    def __init__(self, mode, etc_path, read_only_paths=(),
                 bwrap_path=BWRAP):
        if mode not in MODES:
            raise ConfigurationError("sandbox: must be one of %s, got %r"
                                     % (" | ".join(MODES), mode))
        self.mode = mode
        self.etc_path = etc_path
        self.read_only_paths = [os.path.abspath(path)
                                for path in read_only_paths if path]
        self.bwrap_path = bwrap_path
        self._etc_written = False

    @classmethod
    def from_settings(cls, settings):
        return cls(settings.sandbox,
                   os.path.join(settings.working_path, "sandbox-etc"),
                   program_paths(settings))

    @property
    def enabled(self):
        return self.mode == "bwrap"

    # -- start-up -----------------------------------------------------------

    def prepare(self):
        """Say at server start what protects the host.  Whether bubblewrap
        works, ``check`` finds out, before (cloudooo.ops.preflight)."""
        if not self.enabled:
            logger.warning(
                "sandbox = none: LibreOffice, ffmpeg, ImageMagick and poppler "
                "run with the server's own view of files and network; only "
                "the link check protects this host")
            return
        if os.geteuid() == 0:
            logger.warning(
                "running as root: sandbox_process_limit is not enforced (the "
                "kernel exempts root from RLIMIT_NPROC, namespaces or not); "
                "run cloudooo as an unprivileged user")
        logger.info("sandbox: bubblewrap %s; children see no network and "
                    "no host file outside their view", self.bwrap_path)

    def check(self):
        """Write the synthetic /etc and run ``true`` in the full view;
        ConfigurationError saying what to change when that fails."""
        try:
            self._write_etc()
        except OSError as error:
            raise ConfigurationError("sandbox: cannot write %s: %s"
                                     % (self.etc_path, error))
        self.probe()

    def probe(self):
        """Run ``true`` in the full view once."""
        argv = self.wrap(["true"], writable=())
        try:
            result = subprocess.run(argv, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE,
                                    timeout=PROBE_TIMEOUT_SECONDS)
        except (OSError, subprocess.SubprocessError) as error:
            raise ConfigurationError(self._probe_advice(str(error)))
        if result.returncode != 0:
            raise ConfigurationError(self._probe_advice(
                result.stderr.decode("utf-8", "replace").strip()
                or "exit code %d" % result.returncode))

    def _probe_advice(self, reason):
        return (
            "sandbox = bwrap: bubblewrap (%s) cannot create its sandbox: %s. "
            "Install it (apt-get install bubblewrap) and allow unprivileged "
            "user namespaces (sysctl kernel.unprivileged_userns_clone=1, "
            "user.max_user_namespaces > 0; in a container, run it with "
            "user namespaces allowed, e.g. without a seccomp profile that "
            "blocks them), or set 'sandbox = none' to run converters without "
            "a sandbox (the link check stays the only protection)"
            % (self.bwrap_path, reason))

    def _write_etc(self):
        """passwd, group and hosts naming only the sandbox's user and
        loopback: the host's files never enter."""
        os.makedirs(self.etc_path, exist_ok=True)
        files = {
            "passwd": "%s:x:%d:%d:cloudooo sandbox:/tmp:/usr/sbin/nologin\n"
                      % (SANDBOX_USER, SANDBOX_UID, SANDBOX_UID),
            "group": "%s:x:%d:\n" % (SANDBOX_USER, SANDBOX_UID),
            "hosts": "127.0.0.1 localhost\n::1 localhost\n",
            "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
        }
        for name, text in files.items():
            path = os.path.join(self.etc_path, name)
            # A name of this thread's own: two first requests may race.
            scratch = "%s.%d-%d.new" % (path, os.getpid(),
                                        threading.get_ident())
            with open(scratch, "w") as stream:
                stream.write(text)
            os.replace(scratch, path)
        self._etc_written = True

    # -- argv ---------------------------------------------------------------

    def wrap(self, argv, writable, limits=None, cwd=None, private_tmp=None,
             read_only=()):
        """``argv`` run in the sandbox.

        ``writable``: host directories bound read-write at the same path
        (so paths need no translation).  ``private_tmp``: a host directory
        seen as /tmp inside; else /tmp is an empty tmpfs.  ``read_only``:
        more host paths (files or directories) for this child only.
        ``limits``: a SandboxLimits.  ``cwd``: the working directory inside.
        """
        if not self.enabled:
            # RLIMIT_NPROC counts every process of the server's user when
            # there is no user namespace of the sandbox's own.
            if limits and limits.process_count:
                limits = SandboxLimits(limits.address_space_bytes,
                                       limits.file_size_bytes)
            return (limits.prlimit_argv() if limits else []) + list(argv)
        if not self._etc_written:
            self._write_etc()
        limited = (limits.prlimit_argv() if limits else []) + list(argv)
        view = [self.bwrap_path,
                "--unshare-user", "--uid", str(SANDBOX_UID),
                "--gid", str(SANDBOX_UID),
                "--unshare-pid", "--unshare-net", "--unshare-ipc",
                "--unshare-uts", "--unshare-cgroup-try",
                "--hostname", "sandbox",
                "--die-with-parent", "--new-session",
                "--cap-drop", "ALL"]
        for path in SYSTEM_DIRECTORIES:
            view += ["--ro-bind-try", path, path]
        for name in USR_MERGED_NAMES:
            if os.path.islink(name):
                view += ["--symlink", os.readlink(name), name]
            elif os.path.isdir(name):
                view += ["--ro-bind", name, name]
        for name in ("passwd", "group", "hosts", "nsswitch.conf"):
            view += ["--ro-bind", os.path.join(self.etc_path, name),
                     "/etc/" + name]
        for path in HOST_ETC_ENTRIES:
            view += ["--ro-bind-try", path, path]
        view += ["--proc", "/proc", "--dev", "/dev"]
        if private_tmp:
            view += ["--bind", private_tmp, "/tmp"]
        else:
            view += ["--tmpfs", "/tmp"]
        for path in list(self.read_only_paths) + list(read_only):
            view += ["--ro-bind", path, path]
        for path in writable:
            view += ["--bind", path, path]
        # The root bubblewrap builds (/, /etc...) read-only too.
        view += ["--remount-ro", "/"]
        view += ["--setenv", "HOME", "/tmp", "--setenv", "TMPDIR", "/tmp",
                 "--setenv", "USER", SANDBOX_USER,
                 "--setenv", "LOGNAME", SANDBOX_USER]
        if cwd:
            view += ["--chdir", cwd]
        return view + ["--"] + limited


    def environment(self, env, configured=()):
        """The environment of a sandboxed child: from ``env``, only the
        variables ENVIRONMENT_KEPT names and those ``configured`` (the
        env-* keys); the server's own (HOME, credentials...) stay out."""
        if not self.enabled or env is None:
            return env
        return {name: value for name, value in env.items()
                if ENVIRONMENT_KEPT.match(name) or name in configured}


def program_paths(settings):
    """Host paths outside /usr every child may read: LibreOffice's
    installation when it lives elsewhere (/opt), the UNO path and the
    configured extra paths."""
    paths = []
    office_root = os.path.dirname(os.path.abspath(
        settings.office_binary_path.rstrip("/")))
    for path in (office_root, settings.uno_path,
                 *settings.sandbox_read_only_paths):
        if path and os.path.exists(path) and not _under(path, "/usr"):
            paths.append(os.path.abspath(path))
    return paths


def _under(path, directory):
    path = os.path.realpath(path)
    return path == directory or path.startswith(directory + os.sep)


def limits_from_settings(settings, memory_megabytes):
    """SandboxLimits from the settings, with ``memory_megabytes`` of
    address space (the office and the tools have their own keys)."""
    return SandboxLimits(
        address_space_bytes=memory_megabytes * 1024 ** 2
        if memory_megabytes else None,
        file_size_bytes=settings.sandbox_file_size_limit * 1024 ** 2
        if settings.sandbox_file_size_limit else None,
        process_count=settings.sandbox_process_limit or None)
