#!/usr/bin/env python3
"""A first tour of the CityServe API from Python, using the official grpcio packages.

It calls every CityServe service at least once, the way a newcomer would set up a city:

  DepartmentService    create two departments, a service category and a service standard
  OfficerService       create an officer and appoint them the department's CSO
  FeedbackService      submit a complaint by phone (it opens a case) and acknowledge the case
  CoordinationService  hand the case to the other department, read the report card
  ApiKeyService        list the Open311 API keys

Run ./setup.sh (or generate.sh) first so that gen/ holds the stubs, then:

  .venv/bin/python cityserve_example.py --target 127.0.0.1:50051 --token "$CHIEF"

The token must be a Chief's (`cityserve token --role chief --subject <officer>`). Every step prints
one line; any gRPC error prints the status and exits with a non-zero code.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid

# The generated stubs live in gen/ next to this file (see generate.sh).
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "gen"))

try:
    import grpc
    from google.protobuf import duration_pb2

    from cityserve.v1 import common_pb2
    from cityserve.v1 import coordination_pb2, coordination_pb2_grpc
    from cityserve.v1 import departments_pb2, departments_pb2_grpc
    from cityserve.v1 import feedback_pb2, feedback_pb2_grpc
    from cityserve.v1 import officers_pb2, officers_pb2_grpc
    from cityserve.v1 import open311_pb2, open311_pb2_grpc
except ImportError as e:  # pragma: no cover - a setup problem, not an API one
    sys.exit(f"cannot import the gRPC stubs ({e}); run ./setup.sh (or pip install -r requirements.txt && ./generate.sh)")


def hours(h: int) -> duration_pb2.Duration:
    return duration_pb2.Duration(seconds=h * 3600)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="127.0.0.1:50051", help="host:port of the CityServe gRPC server")
    parser.add_argument("--token", default=os.environ.get("CHIEF", ""), help="a Chief's JWT (default: $CHIEF)")
    parser.add_argument(
        "--run-id",
        default=time.strftime("%m%d%H%M%S") + uuid.uuid4().hex[:4],
        help="suffix for the IDs this run creates, so the tour can run again on the same server",
    )
    args = parser.parse_args()
    if not args.token:
        parser.error("--token (or $CHIEF) is required: cityserve token --role chief --subject <officer>")

    run = args.run_id
    auth = (("authorization", f"Bearer {args.token}"),)
    timeout = 10.0  # seconds; sent to the server as grpc-timeout

    def call(step: str, rpc, request):
        """Calls one unary RPC with the token; prints the status and exits on any error."""
        try:
            return rpc(request, metadata=auth, timeout=timeout)
        except grpc.RpcError as err:
            print(f"FAILED {step}: {err.code().name}: {err.details()}", file=sys.stderr)
            sys.exit(1)

    with grpc.insecure_channel(args.target) as channel:
        departments = departments_pb2_grpc.DepartmentServiceStub(channel)
        officers = officers_pb2_grpc.OfficerServiceStub(channel)
        feedback = feedback_pb2_grpc.FeedbackServiceStub(channel)
        coordination = coordination_pb2_grpc.CoordinationServiceStub(channel)
        api_keys = open311_pb2_grpc.ApiKeyServiceStub(channel)

        # --- DepartmentService -------------------------------------------------------------
        streets_id, water_id = f"streets-{run}", f"water-{run}"
        for dept_id, display in ((streets_id, "Streets Department"), (water_id, "Water Department")):
            dept = call(
                "CreateDepartment",
                departments.CreateDepartment,
                departments_pb2.CreateDepartmentRequest(
                    department_id=dept_id,
                    department=departments_pb2.Department(
                        display_name=display,
                        default_targets=departments_pb2.ServiceTargets(
                            acknowledge_within=hours(24), resolve_within=hours(240)
                        ),
                    ),
                    # request_id makes a retry safe: the same ID returns the same department.
                    request_id=f"example-dept-{dept_id}",
                ),
            ).department
            print(f"DepartmentService.CreateDepartment     -> {dept.name} ({dept.display_name})")
        streets = f"departments/{streets_id}"
        water = f"departments/{water_id}"

        listed = call(
            "ListDepartments", departments.ListDepartments, departments_pb2.ListDepartmentsRequest(page_size=50)
        )
        print(f"DepartmentService.ListDepartments      -> {len(listed.departments)} department(s) on the first page")

        category = call(
            "CreateServiceCategory",
            departments.CreateServiceCategory,
            departments_pb2.CreateServiceCategoryRequest(
                parent=streets,
                service_category_id="pothole",
                service_category=departments_pb2.ServiceCategory(
                    display_name="Pothole", keywords=["pothole", "road", "street cut"]
                ),
                request_id=f"example-cat-{run}",
            ),
        ).service_category
        print(f"DepartmentService.CreateServiceCategory -> {category.name}")

        standard = call(
            "CreateServiceStandard",
            departments.CreateServiceStandard,
            departments_pb2.CreateServiceStandardRequest(
                parent=streets,
                service_standard_id="pothole-phone",
                service_standard=departments_pb2.ServiceStandard(
                    service_category_id="pothole",
                    channel=common_pb2.CHANNEL_PHONE,
                    targets=departments_pb2.ServiceTargets(acknowledge_within=hours(4), resolve_within=hours(72)),
                ),
                request_id=f"example-std-{run}",
            ),
        ).service_standard
        print(f"DepartmentService.CreateServiceStandard -> {standard.name} (ack within 4h, resolve within 72h)")

        # --- OfficerService ----------------------------------------------------------------
        officer_id = f"lead-{run}"
        officer = call(
            "CreateOfficer",
            officers.CreateOfficer,
            officers_pb2.CreateOfficerRequest(
                parent=streets,
                officer_id=officer_id,
                officer=officers_pb2.Officer(
                    display_name="Sam Streets", email=f"sam.{run}@city.gov", title="Customer Service Officer"
                ),
                request_id=f"example-officer-{run}",
            ),
        ).officer
        print(f"OfficerService.CreateOfficer           -> {officer.name} ({officer.display_name})")

        appointment = call(
            "AppointCso",
            officers.AppointCso,
            officers_pb2.AppointCsoRequest(
                parent=streets,
                officer=officer.name,
                replaces="",  # the seat of a new department is vacant
                request_id=f"example-appoint-{run}",
            ),
        ).appointment
        print(f"OfficerService.AppointCso              -> {appointment.name} (active: {appointment.active})")

        # --- FeedbackService ---------------------------------------------------------------
        submitted = call(
            "SubmitFeedback",
            feedback.SubmitFeedback,
            feedback_pb2.SubmitFeedbackRequest(
                parent=streets,
                feedback=feedback_pb2.Feedback(
                    channel=common_pb2.CHANNEL_PHONE,
                    kind=feedback_pb2.FEEDBACK_KIND_COMPLAINT,
                    csat=2,
                    service_category_id="pothole",
                    text="Pothole over a leaking water main on Chestnut St",
                ),
                resident=feedback_pb2.ResidentContact(phone="215-555-0142"),
                request_id=f"example-call-{run}",
            ),
        )
        case = submitted.case
        print(f"FeedbackService.SubmitFeedback         -> {submitted.feedback.name}, opened {case.name}")

        acked = call(
            "AcknowledgeCase",
            feedback.AcknowledgeCase,
            feedback_pb2.AcknowledgeCaseRequest(
                name=case.name, etag=case.etag, note="Called the resident back; crew inspecting today"
            ),
        ).case
        print(f"FeedbackService.AcknowledgeCase        -> {acked.name} is {feedback_pb2.CaseState.Name(acked.state)}")

        # --- CoordinationService -----------------------------------------------------------
        handoff = call(
            "SendHandoff",
            coordination.SendHandoff,
            coordination_pb2.SendHandoffRequest(
                case=case.name,
                to_department=water,
                kind=coordination_pb2.HANDOFF_KIND_TRANSFER,
                reason="The pothole is a water main leak: Water repairs it",
                request_id=f"example-handoff-{run}",
            ),
        ).handoff
        print(f"CoordinationService.SendHandoff        -> {handoff.name} to {handoff.to_department}")

        card = call(
            "GetReportCard",
            coordination.GetReportCard,
            coordination_pb2.GetReportCardRequest(department=streets, period=coordination_pb2.REPORT_PERIOD_MONTH),
        ).report_card
        print(
            f"CoordinationService.GetReportCard      -> {card.department}: volume {card.volume}, "
            f"cases opened {card.cases_opened}, hand-offs out {card.handoffs_out}"
        )

        # --- ApiKeyService -----------------------------------------------------------------
        keys = call("ListApiKeys", api_keys.ListApiKeys, open311_pb2.ListApiKeysRequest(page_size=50))
        print(f"ApiKeyService.ListApiKeys              -> {len(keys.api_keys)} Open311 API key(s)")

    print("OK: every CityServe service answered")
    return 0


if __name__ == "__main__":
    sys.exit(main())
