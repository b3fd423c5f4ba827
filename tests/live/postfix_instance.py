"""postfix_instance.py — a private Postfix instance for the live-capture test: its own
config_directory (samples/postfix/main.cf and master.cf copied, then changed with postconf),
queue_directory and data_directory under one temporary directory, never /etc/postfix or
/var/spool/postfix. It listens only on 127.0.0.1:<free high port>, accepts mail for live.test
from loopback, refuses rejected@live.test with 550 5.1.1 (check_recipient_access texthash),
and discards everything: no transport ever delivers or relays. Needs root (postfix start).
It is stopped and its directory removed by stop(), and by a watchdog if the test dies."""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

SAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "samples", "postfix")
REJECT_TEXT = "Mailbox unavailable (smtpsift live test)"


def available():
    """True when postfix is installed (command and 'postfix' user): the real-MTA variant can run."""
    if not (shutil.which("postfix") or os.path.exists("/usr/sbin/postfix")):
        return False
    try:
        import pwd
        pwd.getpwnam("postfix")
    except KeyError:
        return False
    return True


def _free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class PrivatePostfix:
    """start(): a running private instance on 127.0.0.1:self.port; raises RuntimeError (with
    Postfix's log) if it cannot start. stop(): idempotent, stops master and removes self.dir."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sift_live_pf_")
        os.chmod(self.dir, 0o755)        # the postfix user must reach data/ and queue/
        self.etc = os.path.join(self.dir, "etc")
        self.logfile = os.path.join(self.dir, "postfix.log")
        self.port = None
        self.watchdog = None
        self.postfix = shutil.which("postfix") or "/usr/sbin/postfix"
        self.postconf = shutil.which("postconf") or "/usr/sbin/postconf"

    def _run(self, *args):
        r = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} exited {r.returncode}: {r.stdout.strip()}\n{self.log()}")
        return r.stdout

    def _configure(self, port):
        os.makedirs(self.etc, exist_ok=True)
        for sub in ("queue", "data"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        shutil.chown(os.path.join(self.dir, "data"), user="postfix")
        for f in ("main.cf", "master.cf", "smtpsift_header_checks"):
            shutil.copy(os.path.join(SAMPLES, f), self.etc)
        with open(os.path.join(self.etc, "rcpt_access"), "w") as f:
            f.write(f"rejected@live.test 550 5.1.1 {REJECT_TEXT}\n")
        d = self.dir
        settings = {
            "queue_directory": f"{d}/queue",
            "data_directory": f"{d}/data",
            "meta_directory": "/etc/postfix",
            "myhostname": "mx.live.test",
            "mydomain": "live.test",
            "mydestination": "live.test",
            "smtpd_banner": "$myhostname ESMTP smtpsift-live",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "smtpd_recipient_restrictions": f"check_recipient_access texthash:{self.etc}/rcpt_access,"
                                            " permit_mynetworks, reject_unauth_destination",
            "header_checks": f"regexp:{self.etc}/smtpsift_header_checks",
            "maillog_file_prefixes": d,
            "maillog_file": self.logfile,
        }
        self._run(self.postconf, "-c", self.etc, "-e", *[f"{k}={v}" for k, v in settings.items()])
        # master.cf: only one smtpd, on 127.0.0.1:port (the sample's 25/587/2525/10025 removed)
        self._run(self.postconf, "-c", self.etc, "-MX", "smtp/inet", "submission/inet", "2525/inet", "10025/inet")
        self._run(self.postconf, "-c", self.etc, "-M",
                  f"127.0.0.1:{port}/inet=127.0.0.1:{port} inet n - n - - smtpd")

    def _start_watchdog(self):
        # If this test process dies without running stop() (SIGKILL from a ctest timeout), a
        # detached shell stops the instance and removes its directory.
        self.watchdog = start_watchdog('[ -e "$2/queue/pid/master.pid" ] && "$3" -c "$2/etc" stop >/dev/null 2>&1; '
                                       'rm -rf "$2"', self.dir, self.postfix)

    def start(self):
        self._start_watchdog()
        for attempt in range(3):      # a free port taken between bind() and postfix start: retry
            self.port = _free_port()
            self._configure(self.port)
            self._run(self.postfix, "-c", self.etc, "check")
            r = subprocess.run([self.postfix, "-c", self.etc, "start"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
            if r.returncode == 0 and self._wait_banner(10):
                return
            self._stop_master()
        raise RuntimeError(f"private postfix did not start:\n{self.log()}")

    def _wait_banner(self, seconds):
        """Until the smtpd answers with its greeting (then QUIT), at most `seconds`."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                    if s.recv(512).startswith(b"220 mx.live.test ESMTP smtpsift-live"):
                        s.sendall(b"QUIT\r\n")
                        s.recv(512)
                        return True
            except OSError:
                pass
            time.sleep(0.1)
        return False

    def log(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_log(self, pattern, seconds=10):
        """The first match of regex `pattern` in Postfix's log, waiting up to `seconds`; None if absent."""
        deadline = time.time() + seconds
        while True:
            m = re.search(pattern, self.log(), re.M)
            if m or time.time() >= deadline:
                return m
            time.sleep(0.1)

    def _stop_master(self):
        if os.path.exists(os.path.join(self.dir, "queue", "pid", "master.pid")):
            subprocess.run([self.postfix, "-c", self.etc, "stop"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=30)

    def stop(self):
        try:
            self._stop_master()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
            stop_watchdog(self.watchdog)
            self.watchdog = None


def start_watchdog(cleanup, *args):
    """A detached shell that waits until this process is gone (however it ended, SIGKILL
    included), then runs the sh command `cleanup` with $2, $3... = args. Stop it with
    stop_watchdog() when the cleanup was done normally."""
    script = 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; ' + cleanup
    return subprocess.Popen(["sh", "-c", script, "sift-live-watchdog", str(os.getpid()), *map(str, args)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def stop_watchdog(proc):
    """Ends a watchdog of start_watchdog() (its whole process group) without its cleanup."""
    if proc is not None and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()
