#!/usr/bin/env python3
"""A paidan client in Python (grpcio), generated from proto/ at start-up.

    python3 clients/python/paidan_client.py --addr 127.0.0.1:50051 triage "小区楼下烧烤店油烟太大"
    python3 clients/python/paidan_client.py --addr 127.0.0.1:50051 submit --request-id r1 "工地夜间施工噪音扰民"
    python3 clients/python/paidan_client.py --addr 127.0.0.1:50051 get PD000000000001
    python3 clients/python/paidan_client.py --addr 127.0.0.1:50051 stats --since 2026-11-01T00:00:00+08:00

With authentication on, pass the token with --token or PAIDAN_TOKEN; for TLS give the CA with --tls-ca
(and --tls-cert/--tls-key for a client certificate).

Analysts script paidan this way; `import paidan_client; stubs = paidan_client.load_stubs()` gives the
generated modules. Stubs are generated with grpc_tools, so nothing generated is committed and the proto
files stay the one source of truth. They are generated once per proto content into a private per-user
cache, $XDG_CACHE_HOME/paidan/pystubs-<digest> (default ~/.cache/paidan, mode 0700): into a fresh
temporary directory, renamed into place in one step, then reused. A cache directory not owned by you or
writable by group/others is refused.
"""
import argparse
import compileall
import errno
import hashlib
import importlib
import json
import os
import shutil
import stat
import sys
import tempfile
import threading

import grpc
from google.protobuf import json_format

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROTO_DIR = os.path.join(ROOT, "proto")


STUBS_MARKER = ".complete"  # written last: a stubs directory without it is not used
_loaded = None
_load_lock = threading.Lock()


def cache_root():
    """The per-user cache directory for generated stubs: $XDG_CACHE_HOME/paidan or ~/.cache/paidan."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # the XDG spec says a relative value is to be ignored
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "paidan")


def _proto_files():
    """Every .proto under proto/paidan, as sorted paths relative to proto/ ('/'-separated)."""
    found = []
    for d, _, names in os.walk(os.path.join(PROTO_DIR, "paidan")):
        for n in names:
            if n.endswith(".proto"):
                found.append(os.path.relpath(os.path.join(d, n), PROTO_DIR).replace(os.sep, "/"))
    if not found:
        raise RuntimeError(f"no .proto files under {PROTO_DIR}/paidan")
    return sorted(found)


def _stubs_digest(files):
    """Names the stubs: the proto files' paths and contents, and the generator's version."""
    from grpc_tools import grpc_version

    h = hashlib.sha256(f"grpcio-tools {grpc_version.VERSION}\0".encode())
    for rel in files:
        with open(os.path.join(PROTO_DIR, rel), "rb") as f:
            data = f.read()
        h.update(f"{rel}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()[:20]


def _refuse(top, path, why):
    what = "it" if path == top else path
    return RuntimeError(
        f"refusing to use {top}: {what} {why}. Generated stubs are imported as code, so everything "
        f"under {cache_root()} must be owned by you (uid {os.getuid()}) and not writable by group or "
        f"others; remove it (rm -rf {top}) or point XDG_CACHE_HOME at a private directory")


def _incomplete(path):
    return RuntimeError(f"refusing to use {path}: it has no {STUBS_MARKER} marker, so it was not "
                        f"written by this client or is incomplete; remove it (rm -rf {path}) and run again")


def _check_private(top, path, st):
    if st.st_uid != os.getuid():
        raise _refuse(top, path, f"is owned by uid {st.st_uid}")
    if st.st_mode & 0o022:
        raise _refuse(top, path, f"is writable by group or others (mode {stat.S_IMODE(st.st_mode):o})")


def _check_tree(top):
    """`top` and everything under it: plain directories and files, ours, not group/other-writable."""
    st = os.stat(top)
    if not stat.S_ISDIR(st.st_mode):
        raise _refuse(top, top, "is not a directory")
    _check_private(top, top, st)
    for d, dirs, names in os.walk(top):
        for n in dirs + names:
            p = os.path.join(d, n)
            st = os.lstat(p)
            if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
                raise _refuse(top, p, "is not a plain file or directory")
            _check_private(top, p, st)


def _generate(root, final, files, digest):
    """protoc into a fresh private directory in `root`, then rename it to `final` in one step."""
    from grpc_tools import protoc
    import grpc_tools

    tmp = tempfile.mkdtemp(prefix=".tmp-pystubs-", dir=root)  # mode 0700
    try:
        well_known = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
        rc = protoc.main(["protoc", f"-I{PROTO_DIR}", f"-I{well_known}",
                          f"--python_out={tmp}", f"--grpc_python_out={tmp}", *files])
        if rc != 0:
            raise RuntimeError(f"protoc failed with {rc} on {PROTO_DIR}")
        for d, _, names in os.walk(tmp):
            if d != tmp and "__init__.py" not in names:
                # Regular packages, so an installed `paidan` elsewhere on sys.path cannot shadow them.
                open(os.path.join(d, "__init__.py"), "w").close()
        # Byte-compiled now, so importing never has to create __pycache__ (with the umask's mode).
        compileall.compile_dir(tmp, quiet=2)
        for d, dirs, names in os.walk(tmp):
            for n in dirs:
                os.chmod(os.path.join(d, n), 0o700)
            for n in names:
                os.chmod(os.path.join(d, n), 0o600)
        fd = os.open(os.path.join(tmp, STUBS_MARKER), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(digest + "\n")
        try:
            os.rename(tmp, final)
            tmp = None
        except OSError as e:
            if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            # Another process placed its (complete) stubs first: ours are discarded, theirs used.
            if not os.path.exists(os.path.join(final, STUBS_MARKER)):
                raise _incomplete(final)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def stubs_dir():
    """The directory holding the generated modules for the current proto/, generating it if needed.

    `<cache_root()>/pystubs-<digest>`: one directory per proto content (and grpcio-tools version),
    generated once, then reused by every later start. Raises RuntimeError naming the path when the
    cache is not private to this user.
    """
    root = cache_root()
    try:
        os.makedirs(root, mode=0o700, exist_ok=True)
    except OSError as e:
        raise RuntimeError(f"cannot create the stubs cache {root}: {e}") from e
    st = os.stat(root)
    if not stat.S_ISDIR(st.st_mode):
        raise _refuse(root, root, "is not a directory")
    _check_private(root, root, st)
    files = _proto_files()
    digest = _stubs_digest(files)
    final = os.path.join(root, f"pystubs-{digest}")
    if os.path.lexists(final):
        _check_tree(final)
        if not os.path.exists(os.path.join(final, STUBS_MARKER)):
            raise _incomplete(final)
    else:
        _generate(root, final, files, digest)
        _check_tree(final)
    return final


def load_stubs():
    """Import the generated modules for paidan/v1/intake.proto: (intake_pb2, intake_pb2_grpc).

    The first call in a process picks the stubs directory and imports from it; later calls return
    the same modules (a proto change takes effect in a new process).
    """
    global _loaded
    with _load_lock:
        if _loaded is None:
            out = stubs_dir()
            if out not in sys.path:
                sys.path.insert(0, out)
            importlib.invalidate_caches()
            pb = importlib.import_module("paidan.v1.intake_pb2")
            grpc_mod = importlib.import_module("paidan.v1.intake_pb2_grpc")
            _loaded = (pb, grpc_mod)
        return _loaded


def open_channel(args):
    """A plaintext channel, or TLS when --tls-ca is given."""
    if not args.tls_ca:
        return grpc.insecure_channel(args.addr)

    def read(path):
        with open(path, "rb") as f:
            return f.read()

    creds = grpc.ssl_channel_credentials(
        root_certificates=read(args.tls_ca),
        private_key=read(args.tls_key) if args.tls_key else None,
        certificate_chain=read(args.tls_cert) if args.tls_cert else None)
    return grpc.secure_channel(args.addr, creds)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--addr", default="127.0.0.1:50051")
    p.add_argument("--token", default=os.environ.get("PAIDAN_TOKEN", ""),
                   help="bearer token (default: $PAIDAN_TOKEN)")
    p.add_argument("--tls-ca", help="PEM CA that signed the server's certificate (enables TLS)")
    p.add_argument("--tls-cert", help="PEM client certificate (mutual TLS)")
    p.add_argument("--tls-key", help="PEM client key (mutual TLS)")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("triage")
    t.add_argument("text")
    s = sub.add_parser("submit")
    s.add_argument("--request-id", required=True)
    s.add_argument("--channel", default="CHANNEL_12345")
    s.add_argument("--jurisdiction", default="")
    s.add_argument("--phone", default="")
    s.add_argument("text")
    g = sub.add_parser("get")
    g.add_argument("case_id")
    st = sub.add_parser("stats", help="department figures (GetDepartmentStats; platform or admin role)")
    st.add_argument("--jurisdiction", default="")
    st.add_argument("--since", help="RFC 3339 (default: 30 days before --until)")
    st.add_argument("--until", help="RFC 3339 (default: now)")
    args = p.parse_args(argv)

    try:
        pb, pb_grpc = load_stubs()
    except RuntimeError as e:
        print(f"paidan_client: {e}", file=sys.stderr)
        return 2
    metadata = [("authorization", f"Bearer {args.token}")] if args.token else []
    with open_channel(args) as channel:
        stub = pb_grpc.IntakeStub(channel)
        try:
            if args.cmd == "triage":
                resp = stub.Triage(pb.TriageRequest(text=args.text, channel=pb.CHANNEL_12345),
                                   timeout=30, metadata=metadata)
            elif args.cmd == "submit":
                resp = stub.SubmitComplaint(pb.SubmitComplaintRequest(
                    request_id=args.request_id, text=args.text, channel=pb.Channel.Value(args.channel),
                    jurisdiction=args.jurisdiction, caller_phone=args.phone), timeout=30, metadata=metadata)
            elif args.cmd == "stats":
                req = pb.GetDepartmentStatsRequest(jurisdiction=args.jurisdiction)
                if args.since:
                    req.since.FromJsonString(args.since)
                if args.until:
                    req.until.FromJsonString(args.until)
                resp = stub.GetDepartmentStats(req, timeout=30, metadata=metadata)
            else:
                resp = stub.GetCase(pb.GetCaseRequest(case_id=args.case_id), timeout=30, metadata=metadata)
        except grpc.RpcError as e:
            print(json.dumps({"error": e.code().name, "message": e.details()}, ensure_ascii=False))
            return 1
    print(json_format.MessageToJson(resp, ensure_ascii=False, indent=None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
