// A browser client for CityServe over gRPC-Web: lists departments and submits feedback with a
// bearer token pasted into the page. Generated code comes from `npm run generate` (src/gen).
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { Channel } from "./gen/cityserve/v1/common_pb.js";
import { DepartmentService, DepartmentStatus } from "./gen/cityserve/v1/departments_pb.js";
import { FeedbackKind, FeedbackService } from "./gen/cityserve/v1/feedback_pb.js";

function el<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`#${id} is missing from index.html`);
  return found as T;
}

const serverInput = el<HTMLInputElement>("server");
const tokenInput = el<HTMLTextAreaElement>("token");
const listButton = el<HTMLButtonElement>("list");
const listStatus = el<HTMLParagraphElement>("list-status");
const tbody = el<HTMLTableSectionElement>("departments");
const departmentSelect = el<HTMLSelectElement>("department");
const feedbackForm = el<HTMLFormElement>("feedback");
const feedbackStatus = el<HTMLParagraphElement>("feedback-status");

// Every CityServe RPC needs `authorization: Bearer <JWT>`.
const withToken: Interceptor = (next) => async (req) => {
  const token = tokenInput.value.trim();
  if (token) req.header.set("authorization", `Bearer ${token}`);
  return next(req);
};

// A fresh transport per call, so edits to the server URL take effect immediately.
function clients() {
  const transport = createGrpcWebTransport({
    baseUrl: serverInput.value.trim().replace(/\/+$/, ""),
    interceptors: [withToken],
  });
  return {
    departments: createClient(DepartmentService, transport),
    feedback: createClient(FeedbackService, transport),
  };
}

function show(target: HTMLElement, text: string, ok: boolean) {
  target.textContent = text;
  target.className = ok ? "ok" : "error";
}

function describe(err: unknown): string {
  const e = ConnectError.from(err);
  const hint =
    e.code === Code.Unauthenticated
      ? "\nPaste a valid token (cityserve token --role chief --subject <officer>)."
      : e.code === Code.Unknown || e.code === Code.Unavailable
        ? "\nIs the server running with CITYSERVE_CORS_ALLOWED_ORIGINS set to this page's origin?"
        : "";
  return `${Code[e.code]}: ${e.rawMessage}${hint}`;
}

async function listDepartments() {
  show(listStatus, "Loading…", true);
  try {
    const res = await clients().departments.listDepartments({ pageSize: 100 });
    tbody.replaceChildren(
      ...res.departments.map((d) => {
        const row = document.createElement("tr");
        for (const text of [d.name, d.displayName, DepartmentStatus[d.status]]) {
          const cell = document.createElement("td");
          cell.textContent = text;
          row.append(cell);
        }
        return row;
      }),
    );
    departmentSelect.replaceChildren(
      ...res.departments.map((d) => new Option(`${d.displayName} (${d.name})`, d.name)),
    );
    const more = res.nextPageToken ? " (more on the next page)" : "";
    show(listStatus, `${res.departments.length} department(s)${more}`, true);
  } catch (err) {
    show(listStatus, describe(err), false);
  }
}

const kinds: Record<string, FeedbackKind> = {
  complaint: FeedbackKind.COMPLAINT,
  compliment: FeedbackKind.COMPLIMENT,
  suggestion: FeedbackKind.SUGGESTION,
  question: FeedbackKind.QUESTION,
};

async function submitFeedback(event: SubmitEvent) {
  event.preventDefault();
  const parent = departmentSelect.value;
  if (!parent) {
    show(feedbackStatus, "List the departments first, then pick one.", false);
    return;
  }
  show(feedbackStatus, "Submitting…", true);
  try {
    const csat = Number(el<HTMLInputElement>("csat").value);
    const res = await clients().feedback.submitFeedback({
      parent,
      feedback: {
        channel: Channel.CHANNEL_WEB,
        kind: kinds[el<HTMLSelectElement>("kind").value] ?? FeedbackKind.COMPLAINT,
        csat: Number.isInteger(csat) && csat >= 1 && csat <= 5 ? csat : undefined,
        text: el<HTMLTextAreaElement>("text").value,
      },
      // request_id is required and makes a retry of the same submission safe.
      requestId: crypto.randomUUID(),
    });
    const opened = res.case ? `\nOpened case ${res.case.name}` : "";
    show(feedbackStatus, `Recorded ${res.feedback?.name ?? "(no name)"}${opened}`, true);
  } catch (err) {
    show(feedbackStatus, describe(err), false);
  }
}

listButton.addEventListener("click", () => void listDepartments());
feedbackForm.addEventListener("submit", (e) => void submitFeedback(e));
