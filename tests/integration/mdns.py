"""Private mDNS networks for the DNS-SD tests: hosts made of network namespaces joined by a
veth pair, each with its own D-Bus daemon and avahi-daemon.

Each host is a holder process (``sleep``) in new network and mount namespaces; the mount
namespace gets a tmpfs on ``/run`` so that each avahi-daemon has its own pid file and socket
(``/run/avahi-daemon``). As root the namespaces are made directly; otherwise in a user
namespace (``unshare -r``), in which the second host is made too, so one veth pair can join
them. Programs run in a host through ``nsenter`` (which execs them: signals reach the
program itself) with ``DBUS_SYSTEM_BUS_ADDRESS`` set to that host's private bus, which is
where Avahi's client library looks for the daemon.

Nothing here touches the machine's own network, D-Bus or avahi-daemon. Usage::

    net = mdns.Network(tmpdir)          # raises mdns.Unavailable with the reason
    a, b = net.add_host("a"), net.add_host("b")
    net.link(a, b)                       # 10.77.0.1 <-> 10.77.0.2
    a.start_avahi(); b.start_avahi()
    argv = a.argv(["avahi-browse", "-rpt", "_roundhouse._tcp"])
    ...
    net.close()
"""

import os
import shutil
import signal
import subprocess
import time

DBUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=%(socket)s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""

AVAHI_CONF = """[server]
host-name=%(host)s
use-ipv4=yes
use-ipv6=no
enable-dbus=yes
ratelimit-interval-usec=1000000
ratelimit-burst=1000
[wide-area]
enable-wide-area=no
[publish]
publish-hinfo=no
publish-workstation=no
[reflector]
[rlimits]
"""

TOOLS = ("unshare", "nsenter", "ip", "dbus-daemon", "avahi-daemon", "avahi-browse")
HOLDER = ("mount -t tmpfs tmpfs /run && mkdir -p /run/avahi-daemon && ip link set lo up "
          "&& echo ready && exec sleep 3600")
# In a user namespace only our own uid is mapped (to 0), and avahi-daemon insists that its
# runtime directory belongs to the "avahi" user: that user is made uid 0 there, through
# bind-mounted copies of /etc/passwd and /etc/group in the host's own mount namespace.
HOLDER_USERNS = ("mount --bind %(passwd)s /etc/passwd && mount --bind %(group)s /etc/group && "
                 + HOLDER)
START_TIMEOUT = 20.0


class Unavailable(Exception):
    """This machine cannot run the private network (the message says why)."""


def _which(name):
    return shutil.which(name) or next(
        (p for p in ("/usr/sbin/" + name, "/sbin/" + name) if os.access(p, os.X_OK)), None)


class Host:
    """One namespace "host". ``argv(cmd)`` wraps a command to run inside it; ``env`` is the
    environment entry pointing Avahi clients at this host's bus."""

    def __init__(self, net, name, holder, userns_pid):
        self.net = net
        self.name = name
        self.holder = holder
        self.pid = holder.pid
        self.userns_pid = userns_pid
        self.dir = os.path.join(net.tmp, "host-" + name)
        os.makedirs(self.dir, exist_ok=True)
        self.bus = os.path.join(self.dir, "bus")
        self.env = {"DBUS_SYSTEM_BUS_ADDRESS": "unix:path=" + self.bus}
        self.address = None
        self.procs = []

    def argv(self, cmd):
        """``cmd`` (a list) run in this host's network and mount namespaces."""
        pre = [self.net.nsenter, "-t", str(self.pid)]
        if self.userns_pid is not None:
            pre += ["-U", "--preserve-credentials"]
        return pre + ["-n", "-m", "--wd=" + self.net.tmp] + [str(c) for c in cmd]

    def run(self, cmd, timeout=20, env=None):
        """Runs ``cmd`` to completion in this host; returns the CompletedProcess (text)."""
        full = dict(os.environ)
        full.update(self.env)
        full.update(env or {})
        return subprocess.run(self.argv(cmd), capture_output=True, text=True, timeout=timeout,
                              env=full, stdin=subprocess.DEVNULL)

    def spawn(self, cmd, log_name, env=None):
        full = dict(os.environ)
        full.update(self.env)
        full.update(env or {})
        log = open(os.path.join(self.dir, log_name), "wb")
        p = subprocess.Popen(self.argv(cmd), stdin=subprocess.DEVNULL, stdout=log,
                             stderr=subprocess.STDOUT, env=full, start_new_session=True)
        log.close()
        self.procs.append(p)
        return p

    def start_avahi(self):
        """A private dbus-daemon and avahi-daemon in this host; waits until avahi answers."""
        conf = os.path.join(self.dir, "bus.conf")
        with open(conf, "w") as f:
            f.write(DBUS_CONF % {"socket": self.bus})
        self.dbus = self.spawn([self.net.dbus_daemon, "--config-file=" + conf, "--nofork"],
                               "dbus.log")
        self._wait(lambda: os.path.exists(self.bus), "dbus-daemon socket", self.dbus)
        self.start_avahi_daemon()

    def start_avahi_daemon(self):
        """(Re)starts only avahi-daemon, on the bus already running."""
        conf = os.path.join(self.dir, "avahi.conf")
        with open(conf, "w") as f:
            f.write(AVAHI_CONF % {"host": "rh-" + self.name})
        self.avahi = self.spawn([self.net.avahi_daemon, "--no-drop-root", "--no-chroot",
                                 "--no-rlimits", "--no-proc-title", "--file=" + conf],
                                "avahi.log")
        # avahi-browse -t exits 0 once the daemon answers (its cache may still be empty).
        browse = _which("avahi-browse")
        self._wait(lambda: self.run([browse, "-pt", "_rh-probe._tcp"], timeout=10).returncode == 0,
                   "avahi-daemon", self.avahi)

    def stop_avahi_daemon(self):
        _stop(self.avahi)

    def log(self, name):
        try:
            with open(os.path.join(self.dir, name), "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def _wait(self, pred, what, proc):
        deadline = time.monotonic() + START_TIMEOUT
        for _ in range(int(START_TIMEOUT / 0.1) + 2):
            if proc.poll() is not None:
                break
            try:
                if pred():
                    return
            except (OSError, subprocess.TimeoutExpired):
                pass
            if time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        raise Unavailable("%s did not come up in host %s (exit %r):\n%s%s" % (
            what, self.name, proc.poll(), self.log("dbus.log"), self.log("avahi.log")))


def _stop(p, timeout=5):
    if p is None or p.poll() is not None:
        return
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(timeout=timeout)


class Network:
    """Hosts in namespaces of their own; see the module's text."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.hosts = []
        missing = [t for t in TOOLS if _which(t) is None]
        if missing:
            raise Unavailable("missing programs: %s (scripts/install-deps.sh installs them)"
                              % ", ".join(missing))
        self.unshare, self.nsenter, self.ip = _which("unshare"), _which("nsenter"), _which("ip")
        self.dbus_daemon, self.avahi_daemon = _which("dbus-daemon"), _which("avahi-daemon")
        self.root = os.geteuid() == 0
        self.holder = HOLDER if self.root else HOLDER_USERNS % self._account_files()

    def _account_files(self):
        """Copies of /etc/passwd and /etc/group with user and group avahi as 0."""
        out = {}
        for name, line in (("passwd", "avahi:x:0:0:avahi:/run/avahi-daemon:/usr/sbin/nologin"),
                           ("group", "avahi:x:0:")):
            with open("/etc/" + name) as f:
                rows = [r for r in f.read().splitlines() if not r.startswith("avahi:")]
            path = os.path.join(self.tmp, "userns-" + name)
            with open(path, "w") as f:
                f.write("\n".join(rows + [line]) + "\n")
            out[name] = path
        return out

    def add_host(self, name):
        """A new host; the first one made without root also makes the user namespace."""
        if self.root:
            argv = [self.unshare, "-n", "-m", "--propagation", "private", "sh", "-c", self.holder]
        elif not self.hosts:
            argv = [self.unshare, "-r", "-n", "-m", "--propagation", "private", "sh", "-c",
                    self.holder]
        else:
            argv = [self.nsenter, "-t", str(self.hosts[0].pid), "-U", "--preserve-credentials",
                    self.unshare, "-n", "-m", "--propagation", "private", "sh", "-c", self.holder]
        holder = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, start_new_session=True)
        line = holder.stdout.readline()  # bounded: the holder prints or exits at once
        if line.strip() != "ready":
            _stop(holder)
            raise Unavailable("cannot make a network namespace%s: %s" % (
                "" if self.root else " in a user namespace (unshare -rn)",
                holder.stderr.read().strip() or "exit %r" % holder.poll()))
        host = Host(self, name, holder, None if self.root else self.hosts[0].pid if self.hosts
                    else holder.pid)
        self.hosts.append(host)
        return host

    def link(self, a, b, prefix="10.77.0"):
        """A veth pair between hosts a and b with PREFIX.1/24 and PREFIX.2/24."""
        steps = [
            (a, ["ip", "link", "add", "rh0", "type", "veth", "peer", "name", "rh0", "netns",
                 str(b.pid)]),
            (a, ["ip", "addr", "add", prefix + ".1/24", "dev", "rh0"]),
            (a, ["ip", "link", "set", "rh0", "up"]),
            (b, ["ip", "addr", "add", prefix + ".2/24", "dev", "rh0"]),
            (b, ["ip", "link", "set", "rh0", "up"]),
        ]
        for host, cmd in steps:
            r = host.run([self.ip] + cmd[1:], timeout=10)
            if r.returncode != 0:
                raise Unavailable("cannot set up the veth pair (%s): %s" % (" ".join(cmd),
                                                                           r.stderr.strip()))
        a.address, b.address = prefix + ".1", prefix + ".2"

    def close(self):
        for host in reversed(self.hosts):
            for p in reversed(host.procs):
                _stop(p)
            _stop(host.holder)
            for stream in (host.holder.stdout, host.holder.stderr):
                stream.close()
        self.hosts = []


def browse(host, service_type, timeout=15):
    """``avahi-browse -rpt TYPE`` in host: the resolved entries as dicts with keys
    iface, proto, name, type, domain, hostname, address, port, txt."""
    r = host.run([_which("avahi-browse"), "-rpt", service_type], timeout=timeout)
    out = []
    for line in r.stdout.splitlines():
        f = line.split(";")
        if f[0] != "=" or len(f) < 10:
            continue
        out.append({"iface": f[1], "proto": f[2], "name": f[3], "type": f[4], "domain": f[5],
                    "hostname": f[6], "address": f[7], "port": int(f[8]), "txt": f[9]})
    return out
