"""Installing vigil as server software: `make install DESTDIR=...` lays out
the binary, vigil(1), the systemd units, sysusers.d, tmpfiles.d and the
example config; `make deb` builds a Debian package that installs, runs as
the vigil user and purges cleanly.

The package test installs on this machine, so it needs root (it is skipped,
saying so, without it; CI runs as root) and leaves the machine as it found
it, even when it fails.  systemd need not be PID 1 here: the units are
checked with systemd-analyze, which works without it, and each service is
started the way its unit says (its command line, as its user, with no
capabilities and no new privileges) rather than by systemctl.
"""
import contextlib
import fcntl
import glob
import os
import pwd
import re
import shutil
import signal
import subprocess
import time
import urllib.request

import harness
from harness import BUILD, ROOT, VIGIL, free_port, wait_until, workdir

UNITS = ("vigil-record.service", "vigil-check.service", "vigil-serve.service")
COMMANDS = {"vigil-record.service": "record", "vigil-check.service": "check",
            "vigil-serve.service": "serve"}
# the hardening every unit carries (key: the value it must have, or None:
# present with any value)
HARDENING = {
    "User": "vigil",
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ReadWritePaths": "/var/lib/vigil",
    "CapabilityBoundingSet": "",
    "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
    "SystemCallFilter": "@system-service",
    "MemoryDenyWriteExecute": "yes",
    "RestrictNamespaces": "yes",
    "ProtectKernelTunables": "yes",
}
# `systemd-analyze security` scores exposure from 0 (locked down) to 10;
# the units are at 1.6, "OK".  Losing a few directives pushes it past this.
MAX_EXPOSURE = 2.5
APT_ENV = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
APT = ["apt-get", "-y", "-q", "-o", "DPkg::Lock::Timeout=120"]


# how long the package test waits for another copy of the suite to finish
# its own install and purge
PACKAGE_LOCK_WAIT = 600


@contextlib.contextmanager
def machine_lock(name, wait):
    """Holds an exclusive lock of this machine's (flock on /run/lock/NAME;
    it goes with the process, however it ends)."""
    path = os.path.join("/run/lock" if os.path.isdir("/run/lock") else "/tmp", name + ".lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise AssertionError("%s held by another copy of the suite for more than "
                                         "%d s" % (path, wait))
                time.sleep(1)
        yield
    finally:
        os.close(fd)


def run(args, timeout=300, check=True, **kw):
    proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout, **kw)
    if check and proc.returncode != 0:
        raise AssertionError("%s exited %d:\n%s" % (" ".join(args), proc.returncode,
                                                     proc.stdout[-4000:]))
    return proc


def read_unit(path):
    """{section: {key: [values]}} of a unit file."""
    sections, cur = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                cur = sections.setdefault(line.strip("[]"), {})
                continue
            key, _, value = line.partition("=")
            cur.setdefault(key, []).append(value)
    return sections


def check_unit(path, bindir):
    unit = read_unit(path)
    name = os.path.basename(path)
    svc = unit["Service"]
    assert svc["ExecStart"] == ["%s/vigil %s -c /etc/vigil/vigil.ini" % (
        bindir, COMMANDS[name])], (name, svc["ExecStart"])
    for key, want in HARDENING.items():
        assert want in svc.get(key, []), "%s: %s=%s missing (has %s)" % (
            name, key, want, svc.get(key))
    assert unit["Install"]["WantedBy"] == ["multi-user.target"], name


def check_exposure(path):
    out = run(["systemd-analyze", "security", "--offline=yes", "--no-pager", path]).stdout
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out)
    assert m, out[-2000:]
    assert float(m.group(1)) <= MAX_EXPOSURE, "%s: exposure %s:\n%s" % (
        path, m.group(1), out[-3000:])


def check_man(page, vigil):
    """The page renders without warnings, and says what `vigil help` says."""
    if page.endswith(".gz"):
        src = subprocess.run(["zcat", page], stdout=subprocess.PIPE, check=True).stdout
    else:
        with open(page, "rb") as f:
            src = f.read()
    warn = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z"], input=src,
                          stderr=subprocess.PIPE)
    assert warn.returncode == 0 and not warn.stderr, warn.stderr.decode()
    text = run(["man", "-l", page], env=dict(os.environ, MANWIDTH="400", MAN_KEEP_FORMATTING="",
                                             PAGER="cat")).stdout
    flat = " ".join(text.split())
    names = re.findall(r"^  ([a-z]+) ", run([vigil, "help"]).stdout, re.M)
    assert len(names) >= 10, names
    for name in names:
        out = run([vigil, "help", name]).stdout
        usage = out.split("\n")[0][len("usage: "):]
        summary = out.split("\n")[1].strip()
        assert " ".join(usage.split()) in flat, "man page lacks the usage of %s: %s" % (
            name, usage)
        assert summary in flat, "man page lacks the summary of %s" % name
    for word in ("SERVICES", "vigil-record.service", "/etc/vigil/vigil.ini", "EXIT STATUS"):
        assert word in flat, word


def test_make_install_destdir():
    """`make install DESTDIR=...` as a distribution or an operator would run
    it, without dpkg; a second install keeps the operator's config."""
    wd = workdir()
    build, dest = os.path.join(wd, "build"), os.path.join(wd, "root")
    os.makedirs(build)
    # the binary already built, taken as up to date (-o): nothing is
    # compiled and the checkout's build folder is not written
    shutil.copy2(VIGIL, os.path.join(build, "vigil"))
    make = ["make", "-C", ROOT, "--no-print-directory", "-o", os.path.join(build, "vigil"),
            "BUILD=" + build, "DESTDIR=" + dest, "PREFIX=/usr/local"]
    run(make + ["install"])

    want = {"usr/local/bin/vigil": 0o755, "usr/local/share/man/man1/vigil.1": 0o644,
            "usr/local/lib/sysusers.d/vigil.conf": 0o644,
            "usr/local/lib/tmpfiles.d/vigil.conf": 0o644, "etc/vigil/vigil.ini": 0o644}
    want.update({"usr/local/lib/systemd/system/" + u: 0o644 for u in UNITS})
    found = {os.path.relpath(os.path.join(d, f), dest): os.stat(os.path.join(d, f)).st_mode
             for d, _, files in os.walk(dest) for f in files}
    assert {k: v & 0o7777 for k, v in found.items()} == want, found

    with open(os.path.join(dest, "usr/local/lib/sysusers.d/vigil.conf")) as f:
        assert re.search(r"^u vigil - .* /var/lib/vigil$", f.read(), re.M)
    with open(os.path.join(dest, "usr/local/lib/tmpfiles.d/vigil.conf")) as f:
        assert re.search(r"^d /var/lib/vigil 0750 vigil vigil -$", f.read(), re.M)

    # the units: their command lines and hardening, verified by systemd
    # against the installed binary (their ExecStart pointed into DESTDIR)
    bindir = os.path.join(dest, "usr/local/bin")
    verify = []
    for u in UNITS:
        path = os.path.join(dest, "usr/local/lib/systemd/system", u)
        check_unit(path, "/usr/local/bin")
        check_exposure(path)
        with open(path) as f:
            text = f.read().replace("/usr/local/bin/vigil", bindir + "/vigil")
        verify.append(os.path.join(wd, u))
        with open(verify[-1], "w") as f:
            f.write(text)
    out = run(["systemd-analyze", "verify", "--man=no"] + verify).stdout
    assert out.strip() == "", out

    check_man(os.path.join(dest, "usr/local/share/man/man1/vigil.1"), VIGIL)

    # the example config is valid (its storage moved into the test's
    # folder, so this runs as any user)
    with open(os.path.join(dest, "etc/vigil/vigil.ini")) as f:
        ini = f.read()
    assert re.search(r"^user = vigil$", ini, re.M), "the recorder does not become vigil"
    assert re.search(r"^listen = 127\.0\.0\.1:8080$", ini, re.M)
    moved = os.path.join(wd, "vigil.ini")
    with open(moved, "w") as f:
        f.write(ini.replace("/var/lib/vigil", os.path.join(wd, "state")))
    proc = run([VIGIL, "config", "check", "-c", moved], check=False)
    assert proc.returncode == 0, proc.stdout

    # installing again keeps the operator's config; uninstall leaves it
    with open(os.path.join(dest, "etc/vigil/vigil.ini"), "a") as f:
        f.write("\n; the operator's edit\n")
    run(make + ["install"])
    with open(os.path.join(dest, "etc/vigil/vigil.ini")) as f:
        assert f.read().endswith("; the operator's edit\n")
    run(make + ["uninstall"])
    left = [os.path.relpath(os.path.join(d, f), dest)
            for d, _, files in os.walk(dest) for f in files]
    assert left == ["etc/vigil/vigil.ini"], left


def installed(pkg):
    proc = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Status}", pkg],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return proc.returncode == 0 and proc.stdout not in ("", "not-installed", "config-files")


def start_as_unit(unit_path, log, **kw):
    """The unit's ExecStart, as its User, the way systemd starts it: no
    capabilities, no new privileges, umask 0027, from /."""
    svc = read_unit(unit_path)["Service"]
    user = svc["User"][0]
    cmd = svc["ExecStart"][0].split()
    umask = int(svc["UMask"][0], 8)
    return harness.start(
        ["setpriv", "--reuid=" + user, "--regid=" + user, "--init-groups", "--no-new-privs",
         "--inh-caps=-all", "--bounding-set=-all", "--"] + cmd, log,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}, cwd="/",
        preexec_fn=lambda: os.umask(umask), **kw)


def log_has(path, pattern):
    with open(path, errors="replace") as f:
        return re.search(pattern, f.read(), re.M)


def stop(proc, what):
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        raise AssertionError("%s did not stop on SIGTERM" % what)
    assert rc == 0, "%s exited %d on SIGTERM" % (what, rc)


def purge(check=True):
    return run(APT + ["purge", "vigil"], env=APT_ENV, check=check)


def check_purged():
    assert not installed("vigil")
    for path in ["/usr/bin/vigil", "/usr/share/man/man1/vigil.1.gz", "/etc/vigil",
                 "/var/lib/vigil", "/usr/lib/sysusers.d/vigil.conf",
                 "/usr/lib/tmpfiles.d/vigil.conf"] + \
            ["/lib/systemd/system/" + u for u in UNITS] + \
            ["/etc/systemd/system/multi-user.target.wants/" + u for u in UNITS]:
        assert not os.path.lexists(path), "%s is left after the purge" % path


def test_deb_installs_runs_and_purges():
    """make deb; apt-get install ./vigil_*.deb; the files, the user, the
    units (enabled, verified), the config, the man page; the three services
    start as their units start them and stop cleanly; apt-get purge leaves
    nothing, and keeps recorded footage when there is some."""
    if os.geteuid() != 0:
        raise harness.Skip("installing a package needs root (CI runs as root)")

    wd = workdir()
    build = os.path.join(wd, "build")
    start = time.monotonic()
    # the tree is copied into the test's folder and built there with
    # Debian's flags; the checkout is not written
    out = run(["make", "-C", ROOT, "--no-print-directory", "BUILD=" + build, "deb"],
              timeout=480).stdout
    print("FIGURE make deb: %.0f s" % (time.monotonic() - start))
    debs = glob.glob(os.path.join(build, "deb", "vigil_*.deb"))
    assert len(debs) == 1, out[-3000:]
    # the package, its user and its folders are the machine's: another
    # copy of the suite running at once waits here for this one's purge
    with machine_lock("vigil-package-test", PACKAGE_LOCK_WAIT):
        install_run_purge(wd, debs[0])


def install_run_purge(wd, deb):
    if installed("vigil") or os.path.lexists("/etc/vigil") or os.path.lexists("/var/lib/vigil"):
        raise harness.Skip("a vigil package, /etc/vigil or /var/lib/vigil is already on this machine: "
                           "not touching it")
    had_user = True
    try:
        pwd.getpwnam("vigil")
    except KeyError:
        had_user = False
    procs = []
    try:
        run(APT + ["install", "./" + os.path.basename(deb)], env=APT_ENV,
            cwd=os.path.dirname(deb))
        assert installed("vigil")

        fields = run(["dpkg-query", "-W", "-f=${Depends}\n${Conffiles}\n", "vigil"]).stdout
        for lib in ("libavformat", "libsqlite3", "libmosquitto", "libmicrohttpd", "adduser"):
            assert lib in fields, "Depends lacks %s: %s" % (lib, fields)
        assert "/etc/vigil/vigil.ini" in fields, "the config is not a conffile"

        for path in ["/usr/bin/vigil", "/usr/share/man/man1/vigil.1.gz",
                     "/etc/vigil/vigil.ini"] + ["/lib/systemd/system/" + u for u in UNITS]:
            assert os.path.isfile(path), path
        pw = pwd.getpwnam("vigil")
        assert pw.pw_uid < 1000 and pw.pw_shell.endswith("nologin"), pw
        st = os.stat("/var/lib/vigil")
        assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (pw.pw_uid, pw.pw_gid, 0o750), st
        for u in UNITS:
            link = "/etc/systemd/system/multi-user.target.wants/" + u
            assert os.path.realpath(link) == os.path.realpath("/lib/systemd/system/" + u), \
                "%s is not enabled" % u
            check_unit("/lib/systemd/system/" + u, "/usr/bin")
            check_exposure("/lib/systemd/system/" + u)
        out = run(["systemd-analyze", "verify"] + ["/lib/systemd/system/" + u for u in UNITS])
        assert out.stdout.strip() == "", out.stdout

        proc = run(["vigil", "config", "check", "-c", "/etc/vigil/vigil.ini"], check=False)
        assert proc.returncode == 0, proc.stdout
        check_man("/usr/share/man/man1/vigil.1.gz", "/usr/bin/vigil")

        # started by hand as root, the recorder becomes vigil ([recorder]
        # user = vigil) before it writes anything
        log = os.path.join(wd, "root-record.log")
        p = harness.start(["vigil", "record", "-c", "/etc/vigil/vigil.ini"], log)
        procs.append(p)
        wait_until(lambda: log_has(log, r"recording 0 cameras"), 20, what="the recorder")
        assert log_has(log, r"running as user 'vigil'")
        stop(p, "vigil record (started as root)")

        # each service as its unit runs it; the console on a free port, as
        # 8080 may be taken on a shared machine
        port = free_port()
        with open("/etc/vigil/vigil.ini") as f:
            ini = f.read()
        with open("/etc/vigil/vigil.ini", "w") as f:
            f.write(re.sub(r"^listen = .*$", "listen = 127.0.0.1:%d" % port, ini, flags=re.M))
        logs = {}
        for u in UNITS:
            logs[u] = os.path.join(wd, u + ".log")
            procs.append(start_as_unit("/lib/systemd/system/" + u, logs[u]))
        wait_until(lambda: log_has(logs["vigil-record.service"], r"recording 0 cameras"), 20,
                   what="the recorder")
        wait_until(lambda: log_has(logs["vigil-check.service"], r"checker: watching"), 20,
                   what="the checker")

        def healthz():
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % port,
                                            timeout=2) as r:
                    return r.status == 200 and r.read().strip() == b"ok"
            except OSError:
                return False
        wait_until(healthz, 20, what="the console's /healthz")
        time.sleep(1)
        for p, u in zip(procs[1:], UNITS):
            assert p.poll() is None, "%s exited %s:\n%s" % (u, p.returncode,
                                                           open(logs[u]).read()[-2000:])
        for name in ("catalog.db", "tickets.db", "web.db", "footage"):
            st = os.stat(os.path.join("/var/lib/vigil", name))
            assert st.st_uid == pw.pw_uid, "%s is not vigil's" % name
            assert st.st_mode & 0o007 == 0, "%s is open to others: %o" % (name, st.st_mode)
        for p, u in zip(procs[1:], UNITS):
            stop(p, u)

        proc = purge()
        check_purged()

        # footage is evidence: a purge keeps the storage that holds some
        run(["dpkg", "-i", deb])
        os.makedirs("/var/lib/vigil/footage/gate3", exist_ok=True)
        clip = "/var/lib/vigil/footage/gate3/000000-1.mp4"
        with open(clip, "wb") as f:
            f.write(b"\0" * 16)
        proc = purge()
        assert "holds recorded footage: kept" in proc.stdout, proc.stdout[-2000:]
        assert os.path.isfile(clip)
        assert not installed("vigil") and not os.path.lexists("/etc/vigil")
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        if installed("vigil") or subprocess.run(
                ["dpkg-query", "-W", "vigil"], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL).returncode == 0:
            purge(check=False)
        shutil.rmtree("/var/lib/vigil", ignore_errors=True)
        shutil.rmtree("/etc/vigil", ignore_errors=True)
        if not had_user:
            subprocess.run(["deluser", "--system", "--quiet", "vigil"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            subprocess.run(["delgroup", "--system", "--quiet", "vigil"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    check_purged()


test_deb_installs_runs_and_purges.timeout = 900 + PACKAGE_LOCK_WAIT
test_deb_installs_runs_and_purges.weight = 100


def test_the_version_follows_the_tree_without_a_full_rebuild():
    """The version (git describe) is compiled into util/version.o alone,
    which make rebuilds when the version changes and only then: before, it
    was a flag of every object, and an incremental build after a commit
    kept the earlier commit in --version, exports' manifests and health."""
    out = workdir()

    def build(version):
        run(["make", "-s", "-C", ROOT, "BUILD=" + out, "VERSION=" + version,
             os.path.join(out, "obj", "util", "version.o")])
        obj = os.path.join(out, "obj", "util", "version.o")
        with open(obj, "rb") as f:
            return os.stat(obj).st_mtime_ns, f.read()

    t1, o1 = build("9.8.7-first")
    assert b"vigil/9.8.7-first" in o1, "the user agent does not carry the version"
    t2, _ = build("9.8.7-first")
    assert t2 == t1, "version.o was rebuilt with the version unchanged"
    time.sleep(0.01)
    t3, o3 = build("9.8.7-second")
    assert t3 != t1 and b"9.8.7-second" in o3 and b"9.8.7-first" not in o3, \
        "version.o kept the earlier version"
    # and nothing else reads the macro, so no other object goes stale
    grep = subprocess.run(["grep", "-rln", "--include=*.c", "--include=*.h", "VIGIL_VERSION",
                           "util", "config", "catalog", "ingest", "retention", "health",
                           "tickets", "report", "web", "inspect", "cmd"],
                          cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert grep == ["util/version.c"], "VIGIL_VERSION used outside util/version.c: %s" % grep
