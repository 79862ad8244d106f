//! Stored domain types. Plain Rust + serde; the server converts them to and from `paidan.v1`.

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch (UTC).
pub type Millis = i64;

/// Intake channel; numbers match `paidan.v1.Channel`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Channel {
    Unspecified = 0,
    Hotline12345 = 1,
    Hotline12319 = 2,
    Web = 3,
    App = 4,
    Wechat = 5,
}

/// Work-order lifecycle; numbers match `paidan.v1.CaseStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CaseStatus {
    /// 受理
    Accepted = 1,
    /// 派单
    Dispatched = 2,
    /// 办理中
    InProgress = 3,
    /// 办结
    Resolved = 4,
    /// 回访
    FollowedUp = 5,
    /// 关闭
    Closed = 6,
    /// 退回
    Rejected = 7,
}

impl CaseStatus {
    /// Open cases can still absorb duplicate reports.
    pub fn is_open(self) -> bool {
        !matches!(self, CaseStatus::Closed)
    }

    /// Being handled: its deadline runs (see [`HANDLING`]).
    pub fn is_handling(self) -> bool {
        HANDLING.contains(&self)
    }
}

/// The statuses of a case being handled — accepted, dispatched, in progress, returned — whose
/// deadline runs; resolved, followed-up and closed cases are done.
pub const HANDLING: [CaseStatus; 4] = [
    CaseStatus::Accepted,
    CaseStatus::Dispatched,
    CaseStatus::InProgress,
    CaseStatus::Rejected,
];

/// What the caller asks for (诉求类型); numbers match `paidan.v1.RequestType`. The dispatch
/// catalogue may give a type its own deadline (a consultation is answered at once).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestType {
    /// 咨询
    Consultation = 1,
    /// 求助
    Help = 2,
    /// 投诉
    Complaint = 3,
    /// 举报
    Report = 4,
    /// 建议
    Suggestion = 5,
    /// 表扬
    Praise = 6,
}

impl RequestType {
    pub const ALL: [RequestType; 6] = [
        RequestType::Consultation,
        RequestType::Help,
        RequestType::Complaint,
        RequestType::Report,
        RequestType::Suggestion,
        RequestType::Praise,
    ];

    /// The key in the dispatch catalogue and in logs.
    pub fn key(self) -> &'static str {
        match self {
            RequestType::Consultation => "consultation",
            RequestType::Help => "help",
            RequestType::Complaint => "complaint",
            RequestType::Report => "report",
            RequestType::Suggestion => "suggestion",
            RequestType::Praise => "praise",
        }
    }
}

/// How fast a case must be handled (紧急程度); numbers match `paidan.v1.Urgency`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    /// 一般
    Normal = 1,
    /// 紧急
    Urgent = 2,
    /// 特急
    VeryUrgent = 3,
}

impl Urgency {
    pub const ALL: [Urgency; 3] = [Urgency::Normal, Urgency::Urgent, Urgency::VeryUrgent];

    /// The key in the dispatch catalogue and in logs.
    pub fn key(self) -> &'static str {
        match self {
            Urgency::Normal => "normal",
            Urgency::Urgent => "urgent",
            Urgency::VeryUrgent => "very_urgent",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabelRecord {
    pub code: String,
    pub name: String,
    pub confidence: f32,
}

/// The classifier's output as stored with the case.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TriageRecord {
    pub category: LabelRecord,
    pub department: LabelRecord,
    pub category_alternatives: Vec<LabelRecord>,
    pub department_alternatives: Vec<LabelRecord>,
    pub needs_review: bool,
    pub review_reasons: Vec<String>,
    pub model_version: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusChange {
    pub from: CaseStatus,
    pub to: CaseStatus,
    pub note: String,
    pub actor: String,
    pub at: Millis,
}

/// An operator's fix of category/department; also kept in its own tree for retraining exports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CorrectionRecord {
    pub case_id: String,
    pub category_before: String,
    pub category_after: String,
    pub department_before: String,
    pub department_after: String,
    /// What the model had said (for the training export).
    pub predicted_category: String,
    pub predicted_department: String,
    pub model_version: String,
    pub note: String,
    pub actor: String,
    pub at: Millis,
}

impl CorrectionRecord {
    /// The correction of `case` to `category` and/or `department` (None keeps the current one),
    /// with what the model had said.
    pub fn of(
        case: &CaseRecord,
        category: Option<&str>,
        department: Option<&str>,
        note: &str,
        actor: &str,
        at: Millis,
    ) -> CorrectionRecord {
        CorrectionRecord {
            case_id: case.id.clone(),
            category_before: case.category.clone(),
            category_after: category.unwrap_or(&case.category).to_string(),
            department_before: case.department.clone(),
            department_after: department.unwrap_or(&case.department).to_string(),
            predicted_category: case.triage.category.code.clone(),
            predicted_department: case.triage.department.code.clone(),
            model_version: case.triage.model_version.clone(),
            note: note.to_string(),
            actor: actor.to_string(),
            at,
        }
    }
}

/// A report of the same matter linked to a master case.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportLink {
    pub case_id: String,
    pub request_id: String,
    pub received_at: Millis,
    pub score: f32,
    pub text_excerpt: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ForwardingState {
    Pending,
    Delivered,
    Dead,
    /// Linked reports: the master carries them, nothing of their own is forwarded.
    NotForwarded,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ForwardingRecord {
    pub state: ForwardingState,
    pub attempts: u32,
    pub last_error: String,
    pub delivered_at: Option<Millis>,
    pub events_delivered: u64,
    pub events_pending: u64,
    /// Sequence number the next event of this case gets (starts at 1).
    pub next_sequence: u64,
}

impl ForwardingRecord {
    pub fn new() -> ForwardingRecord {
        ForwardingRecord {
            state: ForwardingState::Pending,
            attempts: 0,
            last_error: String::new(),
            delivered_at: None,
            events_delivered: 0,
            events_pending: 0,
            next_sequence: 1,
        }
    }
}

impl Default for ForwardingRecord {
    fn default() -> Self {
        ForwardingRecord::new()
    }
}

/// Why a department returned a case (退单); numbers match `paidan.v1.ReturnReason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReturnReason {
    /// 非本单位职责
    NotOurResponsibility = 1,
    /// 信息不全
    InformationIncomplete = 2,
    /// 重复工单
    Duplicate = 3,
    /// 已办理
    AlreadyHandled = 4,
    Other = 5,
}

/// A department's return of a case (退单).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseReturn {
    /// The department that returned it.
    pub department: String,
    pub reason: ReturnReason,
    pub note: String,
    pub actor: String,
    pub at: Millis,
}

/// The citizen's rating at the follow-up call (回访); numbers match `paidan.v1.Satisfaction`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Satisfaction {
    /// 满意
    Satisfied = 1,
    /// 基本满意
    BasicallySatisfied = 2,
    /// 不满意
    Dissatisfied = 3,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FollowUp {
    pub satisfaction: Satisfaction,
    pub note: String,
    pub actor: String,
    pub at: Millis,
}

/// A deadline moved (延期), with why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeadlineExtension {
    pub from: Option<Millis>,
    pub to: Millis,
    pub reason: String,
    pub actor: String,
    pub at: Millis,
}

/// What kind of place a mention names (地点); numbers match `paidan.v1.PlaceKind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlaceKind {
    /// District or county (区 / 县)
    District = 1,
    /// Sub-district, town or township (街道 / 镇 / 乡)
    Street = 2,
    /// Road or street (路 / 街 / 大道 / 巷)
    Road = 3,
    /// Residential estate (小区 / 花园 / 苑 …)
    Estate = 4,
    /// Building (栋 / 幢 / 号楼 / 座)
    Building = 5,
}

/// A place named in a complaint's text or address, as it is written there.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Place {
    pub kind: PlaceKind,
    pub name: String,
}

/// How a case is dispatched (the lead is [`CaseRecord::department`]): co-departments, deadline,
/// request type and urgency (each either set by the operator or guessed from the text), and what
/// happened to the dispatch since. Cases stored before schema 3 have all of it empty.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CaseDispatch {
    pub co_departments: Vec<String>,
    pub due_at: Option<Millis>,
    pub request_type: Option<RequestType>,
    /// True when paidan guessed the request type from the text (the operator did not set it).
    pub request_type_guessed: bool,
    pub urgency: Option<Urgency>,
    pub urgency_guessed: bool,
    /// Departments that returned the case, oldest first.
    pub returns: Vec<CaseReturn>,
    pub follow_ups: Vec<FollowUp>,
    pub extensions: Vec<DeadlineExtension>,
    /// Where: the places the text and address name (schema 4; what the jurisdiction was filled
    /// from when the caller left it empty).
    pub places: Vec<Place>,
    /// The deadline (`due_at`) a due-soon event (督办) was already sent for (schema 4): a new
    /// deadline — an extension, a reopening — gets its own.
    pub due_soon_sent_for: Option<Millis>,
    /// The deadline an overdue event was already sent for (schema 4).
    pub overdue_sent_for: Option<Millis>,
}

/// A stored work order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseRecord {
    pub id: String,
    pub request_id: String,
    /// SHA-256 (hex) of the request's content fields; a reused request_id with another digest is a
    /// conflict, with the same digest an idempotent retry.
    pub request_digest: String,
    pub channel: Channel,
    pub received_at: Millis,
    pub created_at: Millis,
    pub jurisdiction: String,
    /// Stored in full; masked on the way out unless the reader may see it.
    pub caller_phone: String,
    pub title: String,
    pub text: String,
    pub address: String,
    pub location: Option<(f64, f64)>,
    pub triage: TriageRecord,
    /// Effective labels (after corrections).
    pub category: String,
    pub department: String,
    pub status: CaseStatus,
    pub history: Vec<StatusChange>,
    pub corrections: Vec<CorrectionRecord>,
    /// Set on a linked report: the master case id.
    pub duplicate_of: Option<String>,
    pub duplicate_score: f32,
    /// On a master: the other reports linked to it (the master itself is not listed).
    pub reports: Vec<ReportLink>,
    pub forwarding: ForwardingRecord,
    /// Co-departments, deadline, request type and urgency, returns, follow-ups (schema 3).
    pub dispatch: CaseDispatch,
}

impl CaseRecord {
    /// Reports of this matter including the master itself.
    pub fn report_count(&self) -> u32 {
        1 + self.reports.len() as u32
    }

    /// The deadline a deadline watch still owes this case an event for: a master being handled
    /// whose `due_at` has not had its overdue event yet (it may have had its due-soon one). The
    /// stores index cases by it ([`crate::Store::for_each_deadline_pending`]), so a watch pass
    /// reads only the cases whose deadline is near, never every open case.
    pub fn deadline_pending(&self) -> Option<Millis> {
        let due = self.dispatch.due_at?;
        (self.duplicate_of.is_none()
            && self.status.is_handling()
            && self.dispatch.overdue_sent_for != Some(due))
        .then_some(due)
    }

    /// Time of the latest report of the matter (the master's own or a linked one).
    pub fn last_report_at(&self) -> Millis {
        self.reports
            .iter()
            .map(|r| r.received_at)
            .fold(self.received_at, Millis::max)
    }
}

/// A case without its report links, and the two figures of its matter that a duplicate lookup
/// needs ([`crate::Store::get_case_head`]). `case.reports` is empty: not loaded, whatever the
/// matter holds.
#[derive(Clone, Debug, PartialEq)]
pub struct CaseHead {
    pub case: CaseRecord,
    /// [`CaseRecord::report_count`] of the whole case.
    pub report_count: u32,
    /// [`CaseRecord::last_report_at`] of the whole case.
    pub last_report_at: Millis,
}

impl CaseHead {
    /// The head of a case read whole.
    pub fn of(mut case: CaseRecord) -> CaseHead {
        let (report_count, last_report_at) = (case.report_count(), case.last_report_at());
        case.reports.clear();
        CaseHead {
            case,
            report_count,
            last_report_at,
        }
    }
}

/// What the dedup index keeps for an indexed case: the band keys it sits under (so they can be
/// removed) and the opaque fingerprint bytes of `paidan-dedup`. The field order is part of the
/// stored format: opening the store reads the leading `jurisdiction` and `bands` alone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DedupEntry {
    pub jurisdiction: String,
    pub bands: Vec<u64>,
    pub fingerprint: Vec<u8>,
    pub received_at: Millis,
    pub category: String,
}

/// A case to insert. The store assigns `record.id` (the given one is ignored) and, when
/// `link_to` is set, links it to that master case in the same transaction.
#[derive(Clone, Debug)]
pub struct NewCase {
    pub record: CaseRecord,
    pub dedup: Option<DedupEntry>,
    pub link_to: Option<Link>,
}

#[derive(Clone, Debug)]
pub struct Link {
    pub master_id: String,
    pub score: f32,
    /// What the master's report list shows of the new report.
    pub text_excerpt: String,
}

#[derive(Clone, Debug)]
pub struct Inserted {
    pub case: CaseRecord,
    /// False when the request_id was already stored (with the same digest): `case` is the stored one.
    pub created: bool,
}

#[derive(Clone, Debug, Default)]
pub struct CaseFilter {
    pub status: Option<CaseStatus>,
    pub category: Option<String>,
    pub department: Option<String>,
    pub channel: Option<Channel>,
    pub jurisdiction: Option<String>,
    /// Inclusive.
    pub received_after: Option<Millis>,
    /// Exclusive.
    pub received_before: Option<Millis>,
}

#[derive(Clone, Debug)]
pub struct Page {
    pub cases: Vec<CaseRecord>,
    /// None on the last page.
    pub next_token: Option<String>,
}

/// What happened to a case, as forwarded to the platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    Created = 1,
    DuplicateLinked = 2,
    Corrected = 3,
    Updated = 4,
    /// The deadline is near (督办: due within the configured working days).
    DueSoon = 5,
    /// The deadline has passed and the case is still being handled.
    Overdue = 6,
}

/// One outbox entry: an event of a case waiting for delivery to one sink.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// Global enqueue order (monotonic); drains in this order.
    pub seq: u64,
    /// "<case_id>:<sequence>"
    pub idempotency_key: String,
    pub case_id: String,
    /// Per-case event sequence, from 1.
    pub sequence: u64,
    pub kind: EventKind,
    pub occurred_at: Millis,
    /// The case as it stood when the event happened.
    pub case: CaseRecord,
    /// Sinks that already acknowledged this entry (an entry leaves the outbox when every configured
    /// sink has it).
    pub delivered_to: Vec<String>,
    pub attempts: u32,
    pub last_error: String,
    pub enqueued_at: Millis,
    pub next_attempt_at: Millis,
}

/// A hot issue: a master case ranked by reports in a window.
#[derive(Clone, Debug)]
pub struct HotIssue {
    pub master: CaseRecord,
    pub report_count: u32,
    pub first_report_at: Millis,
    pub last_report_at: Millis,
}

/// One entry of the audit trail: who (the token's name, and the operator it names) did what, when.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub at: Millis,
    pub actor: String,
    /// What was done, e.g. "update_status", "reload_model", "retry_dead_letters".
    pub action: String,
    /// What it was done to: a case id, a model, idempotency keys.
    pub target: String,
    pub detail: String,
}
