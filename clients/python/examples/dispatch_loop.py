#!/usr/bin/env python3
"""The dispatch loop from Python, end to end (the README's "dispatch" section shows the part between
the `loop` markers; services/paidan/tests/python_client.rs runs this script against a real server and
checks that the README still shows it, so the example cannot rot):

    python3 clients/python/examples/dispatch_loop.py --addr 127.0.0.1:50051 [--token T] [--request-id ID]

submit → lead, co-departments and deadline → returned (退单) → re-dispatched → in progress → resolved
→ rated satisfied (回访) → the department figures of the last day. With authentication on, the token
must hold the intake and platform roles. Prints one JSON object per step.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import grpc  # noqa: E402
import paidan_client  # noqa: E402
from google.protobuf.timestamp_pb2 import Timestamp  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--addr", default="127.0.0.1:50051")
    p.add_argument("--token", default=os.environ.get("PAIDAN_TOKEN", ""))
    p.add_argument("--request-id", default="hotline-0001")
    args = p.parse_args(argv)
    md = [("authorization", f"Bearer {args.token}")] if args.token else []

    def show(step, **values):
        print(json.dumps({"step": step, **values}, ensure_ascii=False), flush=True)

    # --- loop ---
    pb, rpc = paidan_client.load_stubs()
    intake = rpc.IntakeStub(grpc.insecure_channel(args.addr))

    r = intake.SubmitComplaint(pb.SubmitComplaintRequest(
        request_id=args.request_id, text="楼下工地每天夜里两点还在施工，噪音太大了睡不着",
        channel=pb.CHANNEL_12345, jurisdiction="A3区", urgency=pb.URGENCY_URGENT), metadata=md)
    case = intake.GetCase(pb.GetCaseRequest(case_id=r.case_id), metadata=md)
    show("submitted", case_id=case.id, lead=case.department, co=list(case.co_departments),
         due_at=case.due_at.ToJsonString())

    case = intake.ReturnCase(pb.ReturnCaseRequest(
        case_id=case.id, department=case.department,
        reason=pb.RETURN_REASON_NOT_OUR_RESPONSIBILITY, note="夜间施工许可归住建"), metadata=md)
    show("returned", lead=case.department, returned_by=[x.department for x in case.returns])

    for status in (pb.CASE_STATUS_IN_PROGRESS, pb.CASE_STATUS_RESOLVED):
        case = intake.UpdateCaseStatus(pb.UpdateCaseStatusRequest(
            case_id=case.id, status=status, note="已处理"), metadata=md)
    case = intake.RecordFollowUp(pb.RecordFollowUpRequest(
        case_id=case.id, satisfaction=pb.SATISFACTION_SATISFIED, note="回访满意"), metadata=md)
    show("rated", status=pb.CaseStatus.Name(case.status))

    since = case.follow_ups[-1].at.ToSeconds() - 24 * 3600   # the last day
    stats = intake.GetDepartmentStats(pb.GetDepartmentStatsRequest(
        jurisdiction="A3区", since=Timestamp(seconds=since)), metadata=md)
    for d in stats.departments:
        show("figures", department=d.department, received=d.received, resolved=d.resolved,
             on_time=d.resolved_on_time, returned=d.returned, satisfaction=d.satisfaction_rate)
    # --- loop ---
    return 0


if __name__ == "__main__":
    sys.exit(main())
