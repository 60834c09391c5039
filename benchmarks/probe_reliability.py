"""Replay the OS-error classes of reliability round 3 over the commands, from outside.

    python benchmarks/probe_reliability.py [--checkpoint CKPT] [--keep]

Each case runs ``python -m audioup ...`` in a subprocess and is judged on what an outside
probe counts: a traceback, a wrong exit code, data lost (a victim file, a device node, a
FIFO or a link changed, or a temporary file left behind), a write outside the case's folder.
Classes: outputs onto device nodes / FIFOs / links (to our stdout, to a file, dangling, loops),
read-only folders and full disks (a real tmpfs when this process may mount one, else the
``--child`` mode simulates ``EROFS`` / ``ENOSPC`` inside audioup's one writer), a file where a
folder belongs, link loops and names with Latin-1 bytes as inputs, odd folder entries, a
closed stdout pipe, ``/dev/full`` as stdout, Ctrl-C during the start-up imports. With
``--checkpoint`` (a trained audioup checkpoint) ``vocode`` is probed too.

Prints one line per case and a summary; exits 1 if any case found a defect.
"""
from __future__ import annotations

import argparse
import errno
import hashlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WAV = ROOT / "data" / "cmu_arctic" / "arctic_a0007.wav"
LATIN1 = b"bad\xff\xfe.wav"


def child(mode: str, argv) -> int:
    """``--child ro|full -- ARGS``: run audioup with every atomic write failing as on a read-only / full disk."""
    sys.path.insert(0, str(ROOT))
    import audioup.audio.fs as fs
    from audioup.cli import main

    if mode == "ro":
        def refuse(**kwargs):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), kwargs.get("dir"))
        fs.tempfile.mkstemp = refuse
    else:
        real = fs.os.fdopen

        def full(*a, **k):
            f = real(*a, **k)

            def write(data):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            f.write = write
            return f
        fs.os.fdopen = full
    return main(list(argv))


class Probe:
    def __init__(self, work: Path, python: str):
        self.work, self.python = work, python
        self.results = []
        self.env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1")
        self.mounted = []
        self.simulate = False

    # ---- places -------------------------------------------------------------------------
    def mount(self, name: str, ro: bool, size: str = "64k"):
        """A tmpfs at work/name (read-only or nearly full), or None where mounting is not allowed."""
        path = self.work / name
        path.mkdir()
        if self.simulate:
            return None
        opts = f"size={size}" + (",ro" if ro else "")
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True)
        if proc.returncode != 0:
            return None
        self.mounted.append(path)
        if not ro:  # fill it: only a few hundred bytes stay free
            with open(path / "filler", "wb", buffering=0) as f:
                try:
                    while True:
                        f.write(b"\0" * 4096)
                except OSError:
                    pass
        return path

    def unmount(self):
        for path in self.mounted:
            subprocess.run(["umount", str(path)], capture_output=True)

    def watch(self):
        """A fingerprint of everything in the work folder that no case may change."""
        out = {}
        for p in sorted(self.work.rglob("*")):
            try:
                st = os.lstat(p)
            except OSError:
                continue
            rel = str(p.relative_to(self.work))
            if rel.startswith("out") or any(str(m) in str(p) for m in self.mounted):
                continue  # the cases' own output folders
            digest = ""
            if stat.S_ISREG(st.st_mode) and st.st_size < 1 << 20:
                digest = hashlib.sha1(p.read_bytes()).hexdigest()
            link = os.readlink(p) if stat.S_ISLNK(st.st_mode) else ""
            out[rel] = (stat.S_IFMT(st.st_mode), st.st_ino, digest, link)
        return out

    # ---- one case -----------------------------------------------------------------------
    def case(self, name, args, expect_rc, *, sim=None, stdout=None, env=None, want_err=None,
             reader=None, check=None, timeout=300):
        before = self.watch()
        cmd = [self.python, "-m", "audioup", *args]
        if sim:
            cmd = [self.python, str(Path(__file__).resolve()), "--child", sim, "--", *args]
        got = []
        if reader is not None:  # a FIFO's reader, started before the command
            t = threading.Thread(target=lambda: got.append(open(reader, "rb").read()), daemon=True)
            t.start()
        try:
            proc = subprocess.run(cmd, cwd=self.work, env=dict(self.env, **(env or {})),
                                  stdout=stdout if stdout is not None else subprocess.PIPE,
                                  stderr=subprocess.PIPE, timeout=timeout)
            rc, err = proc.returncode, proc.stderr.decode(errors="backslashreplace")
        except subprocess.TimeoutExpired:
            rc, err = "hang", ""
        if reader is not None:
            t.join(timeout=5)
        self.judge(name, rc, err, expect_rc, before, want_err, check, got)

    def judge(self, name, rc, err, expect_rc, before, want_err=None, check=None, got=None):
        after = self.watch()
        problems = []
        if "Traceback" in err:
            problems.append("traceback: " + err.strip().splitlines()[-1][:100])
        if rc not in (expect_rc if isinstance(expect_rc, tuple) else (expect_rc,)):
            problems.append(f"exit {rc}, expected {expect_rc}")
        changed = [k for k in before if before[k] != after.get(k)]
        if changed:
            problems.append(f"data lost or replaced: {', '.join(changed[:3])}")
        new = [k for k in after if k not in before]
        if new:
            problems.append(f"written outside: {', '.join(new[:3])}")
        left = [str(p) for p in self.work.rglob(".*.tmp")]
        if left:
            problems.append(f"temporary left: {left[0]}")
        if want_err and want_err not in err:
            problems.append(f"stderr lacks {want_err!r}: {err.strip()[-120:]!r}")
        if check is not None:
            msg = check(got)
            if msg:
                problems.append(msg)
        self.results.append((name, problems))
        print(f"{'ok    ' if not problems else 'DEFECT'} {name}" + ("" if not problems else ": " + "; ".join(problems)),
              flush=True)


def run_cases(p: Probe, checkpoint=None):
    w = p.work
    shutil.copyfile(WAV, w / "x.wav")
    (w / "victim.txt").write_text("victim\n")
    (w / "afile").write_text("a file\n")
    dev = w / "null"
    try:
        os.mknod(dev, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        dev = None
    fifo = w / "fifo"
    os.mkfifo(fifo)
    (w / "to_victim.json").symlink_to("victim.txt")
    (w / "stdout").symlink_to("/proc/self/fd/1")
    (w / "dangling.json").symlink_to("nowhere.json")
    (w / "loop_a.wav").symlink_to("loop_b.wav")
    (w / "loop_b.wav").symlink_to("loop_a.wav")
    shutil.copyfile(WAV, os.path.join(os.fsencode(w), LATIN1))
    odd = w / "odd"
    odd.mkdir()
    shutil.copyfile(WAV, odd / "good.wav")
    shutil.copyfile(WAV, odd / "new\nline.wav")
    os.mkfifo(odd / "pipe.wav")
    (odd / "loop.wav").symlink_to("loop.wav")
    (odd / "dangling.wav").symlink_to("gone.wav")
    m = ["--quiet", "--no-optional"]
    lay = ["layers", "--factor", "2", "--in-channels", "4", "--out-channels", "4"]
    ana = ["analyze", "--kind", "transposed", "--factor", "2"]

    # outputs onto streams and links: written into, or refused; never replaced
    if dev is not None:
        p.case("measure --json DEVICE --force", ["measure", "x.wav", *m, "--json", "null", "--force"], 0)
        p.case("measure --csv DEVICE --force", ["measure", "x.wav", *m, "--csv", "null", "--force"], 0)
        p.case("analyze --json DEVICE --force", [*ana, "--json", "null", "--force"], 0)
        p.case("layers --json DEVICE", [*lay, "--json", "null"], 0)
    p.case("measure --csv LINK->/proc/self/fd/1", ["measure", "x.wav", *m, "--csv", "stdout"], 0)
    p.case("measure --json FIFO (reader)", ["measure", "x.wav", *m, "--json", "fifo", "--force"], 0,
           reader=fifo, check=lambda got: None if got and got[0].startswith(b"[") else "the reader got nothing")
    p.case("layers --json FIFO (reader)", [*lay, "--json", "fifo"], 0, reader=fifo,
           check=lambda got: None if got and got[0].startswith(b"[") else "the reader got nothing")
    p.case("measure --json LINK->victim --force", ["measure", "x.wav", *m, "--json", "to_victim.json", "--force"], 1)
    p.case("analyze --json LINK->victim --force", [*ana, "--json", "to_victim.json", "--force"], 1)
    p.case("layers --json dangling link", [*lay, "--json", "dangling.json"], 1)
    p.case("layers --json link loop", [*lay, "--json", "loop_a.wav"], 1)

    # read-only folder, full disk: real tmpfs when allowed, else simulated inside the writer
    ro, full = p.mount("ro", ro=True), p.mount("full", ro=False)
    for kind, place in (("ro", ro), ("full", full)):
        base = str(place) if place is not None else f"out_{kind}"
        sim = None if place is not None else kind
        tag = f"{'read-only' if kind == 'ro' else 'full'}{'' if place is not None else ' (simulated)'}"
        p.case(f"mel --out on {tag}", ["mel", "x.wav", "--out", f"{base}/mels", "--quiet"], 1, sim=sim,
               want_err="audioup mel: error: ")
        p.case(f"layers --json on {tag}", [*lay, "--json", f"{base}/l.json"], 1, sim=sim,
               want_err="audioup layers: error: ")
        p.case(f"analyze --plot on {tag}", [*ana, "--plot", f"{base}/plots"], 1, sim=sim,
               want_err="audioup analyze: error: ")
        p.case(f"analyze --json on {tag}", [*ana, "--json", f"{base}/a.json"], 1, sim=sim,
               want_err="audioup analyze: error: ")
        p.case(f"measure --plot on {tag}", ["measure", "x.wav", *m, "--plot", f"{base}/png"], 1, sim=sim)
        p.case(f"measure --json on {tag}", ["measure", "x.wav", *m, "--json", f"{base}/o.json"], 1, sim=sim)
        p.case(f"demo --corpus on {tag}", ["demo", "--out", f"{base}/demo", "--corpus", f"{base}/corpus",
                                           "--quick"], 1, sim=sim, want_err="audioup demo: error: ")
        p.case(f"compare --out on {tag}", ["compare", str(ROOT / "recipes" / "tiny.yaml"), "--out", f"{base}/cmp",
                                           "--init-only", "--test", "x.wav"], 1, sim=sim,
               want_err="audioup compare: error: ")
        if checkpoint:
            p.case(f"vocode --out on {tag}", ["vocode", "--checkpoint", str(checkpoint), "x.wav",
                                              "--out", f"{base}/voc"], 1, sim=sim)

    # a file where a folder belongs
    for args in (["mel", "x.wav", "--out", "afile"], ["mel", "x.wav", "--out", "afile/sub"],
                 [*ana, "--plot", "afile"], ["measure", "x.wav", *m, "--plot", "afile"],
                 ["measure", "x.wav", *m, "--json", "afile/o.json"],
                 ["demo", "--out", "out_demo", "--corpus", "afile/corpus", "--quick"],
                 ["compare", str(ROOT / "recipes" / "tiny.yaml"), "--out", "afile/cmp", "--init-only",
                  "--test", "x.wav"]):
        p.case(" ".join(a for a in args if a not in m) + " (a file)", args, 1)

    # inputs: link loop, Latin-1 bytes, odd folder entries
    p.case("measure LINK-LOOP", ["measure", "loop_a.wav", *m], 1, want_err="symbolic link loop")
    latin = os.fsdecode(LATIN1)
    p.case("measure Latin-1 name", ["measure", latin, *m], 0)
    p.case("measure Latin-1 name, strict stdout", ["measure", latin, *m], 0,
           env={"PYTHONIOENCODING": "utf-8:strict"})
    p.case("mel Latin-1 name", ["mel", latin, "--out", "out_mel_latin", "--quiet"], 0)
    p.case("measure folder with FIFO/loop/dangling/newline", ["measure", "odd", *m, "--json", "out_odd.json"], 1,
           check=lambda got: _odd_records(w / "out_odd.json"))
    if checkpoint:
        p.case("vocode Latin-1 name", ["vocode", "--checkpoint", str(checkpoint), latin, "--out", "out_voc"], 0)

    # stdout: closed pipe, /dev/full; Ctrl-C during the start-up imports
    before = p.watch()
    proc = subprocess.Popen([p.python, "-m", "audioup", "measure", "x.wav", *m], cwd=w, env=p.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.communicate(timeout=300)[1].decode(errors="replace")
    p.judge("measure | (closed pipe)", proc.returncode, err, (141, 1), before,
            check=lambda _: "stderr not quiet: " + err[-80:] if err.strip() else None)
    if checkpoint:
        before = p.watch()
        proc = subprocess.Popen([p.python, "-m", "audioup", "vocode", "--checkpoint", str(checkpoint), "odd",
                                 "--out", "out_voc_pipe"], cwd=w, env=p.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc.stdout.close()
        err = proc.communicate(timeout=300)[1].decode(errors="replace")
        p.judge("vocode DIR | (closed pipe)", proc.returncode, err, (141, 1), before)
    with open("/dev/full", "w") as devfull:
        p.case("--help > /dev/full", ["--help"], 1, stdout=devfull)
        p.case("measure > /dev/full", ["measure", "x.wav", *m], 1, stdout=devfull)
    for delay in (0.2, 0.6):
        before = p.watch()
        proc = subprocess.Popen([p.python, "-m", "audioup", "vocode", "--help"], cwd=w, env=p.env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        err = proc.communicate(timeout=60)[1].decode(errors="replace")
        p.judge(f"SIGINT after {delay} s of start-up", proc.returncode, err, (130, 0), before)


def _odd_records(path: Path):
    import json

    try:
        records = {os.path.basename(r["path"]): r for r in json.loads(path.read_text())}
    except (OSError, ValueError) as exc:
        return f"no JSON records: {exc}"
    missing = [n for n in ("good.wav", "new\nline.wav", "pipe.wav", "loop.wav", "dangling.wav") if n not in records]
    return f"no record for {missing}" if missing else None


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        return child(sys.argv[2], sys.argv[4:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", help="a trained audioup checkpoint, to probe vocode too")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--simulate", action="store_true",
                    help="simulate read-only and full disks even where a tmpfs could be mounted")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="audioup-probe-"))
    probe = Probe(work, sys.executable)
    probe.simulate = a.simulate
    start = time.perf_counter()
    try:
        run_cases(probe, Path(a.checkpoint).resolve() if a.checkpoint else None)
    finally:
        probe.unmount()
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    bad = [(n, pr) for n, pr in probe.results if pr]
    print(f"\n{len(probe.results)} cases in {time.perf_counter() - start:.0f} s: "
          f"{len(probe.results) - len(bad)} ok, {len(bad)} with defects"
          + (f" (work folder kept: {work})" if a.keep else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
