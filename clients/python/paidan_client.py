#!/usr/bin/env python3
"""A paidan client in Python (grpcio), generated from proto/ at start-up.

    python3 clients/python/paidan_client.py --addr 127.0.0.1:50051 triage "小区楼下烧烤店油烟太大"
    python3 clients/python/paidan_client.py --addr 127.0.0.1:50051 submit --request-id r1 "工地夜间施工噪音扰民"
    python3 clients/python/paidan_client.py --addr 127.0.0.1:50051 get PD000000000001

With authentication on, pass the token with --token or PAIDAN_TOKEN; for TLS give the CA with --tls-ca
(and --tls-cert/--tls-key for a client certificate).

Analysts script paidan this way; `import paidan_client; stubs = paidan_client.load_stubs()` gives the
generated modules. Stubs are generated into a cache directory with grpc_tools, so nothing generated is
committed and the proto files stay the one source of truth.
"""
import argparse
import importlib
import json
import os
import sys
import tempfile

import grpc
from google.protobuf import json_format

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROTO_DIR = os.path.join(ROOT, "proto")


def load_stubs():
    """Generate Python modules for paidan/v1/*.proto and import them."""
    from grpc_tools import protoc
    import grpc_tools

    out = os.path.join(tempfile.gettempdir(), "paidan_pystubs")
    os.makedirs(out, exist_ok=True)
    well_known = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    files = [f"paidan/v1/{n}.proto" for n in ("intake", "sink", "admin")]
    rc = protoc.main(["protoc", f"-I{PROTO_DIR}", f"-I{well_known}",
                      f"--python_out={out}", f"--grpc_python_out={out}", *files])
    if rc != 0:
        raise RuntimeError(f"protoc failed with {rc}")
    if out not in sys.path:
        sys.path.insert(0, out)
    pb = importlib.import_module("paidan.v1.intake_pb2")
    grpc_mod = importlib.import_module("paidan.v1.intake_pb2_grpc")
    return pb, grpc_mod


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
    args = p.parse_args(argv)

    pb, pb_grpc = load_stubs()
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
            else:
                resp = stub.GetCase(pb.GetCaseRequest(case_id=args.case_id), timeout=30, metadata=metadata)
        except grpc.RpcError as e:
            print(json.dumps({"error": e.code().name, "message": e.details()}, ensure_ascii=False))
            return 1
    print(json_format.MessageToJson(resp, ensure_ascii=False, indent=None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
