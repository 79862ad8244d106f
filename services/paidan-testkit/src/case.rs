//! [`CaseBuilder`]: a stored case with test defaults (a noise complaint routed to the
//! environment department, accepted, not forwarded yet), so a test names only what it varies.

use paidan_store::{
    CaseRecord, CaseStatus, Channel, ForwardingRecord, LabelRecord, Millis, NewCase, TriageRecord,
};

/// Builds a [`CaseRecord`] (or a [`NewCase`] to insert) field by field over test defaults.
#[derive(Clone, Debug)]
pub struct CaseBuilder {
    record: CaseRecord,
}

fn label(code: &str, confidence: f32) -> LabelRecord {
    LabelRecord {
        code: code.into(),
        name: code.into(),
        confidence,
    }
}

impl CaseBuilder {
    /// Case number `i`: request id `req-{i}`, digest `digest-{i}`, text `第{i}号投诉：夜间施工噪音扰民`,
    /// received and created at `at`, triaged CAT.NOISE → DEPT.ENV (confidence 0.9).
    pub fn new(i: usize, at: Millis) -> CaseBuilder {
        CaseBuilder {
            record: CaseRecord {
                id: String::new(),
                request_id: format!("req-{i}"),
                request_digest: format!("digest-{i}"),
                channel: Channel::Hotline12345,
                received_at: at,
                created_at: at,
                jurisdiction: "330106".into(),
                caller_phone: "13812345678".into(),
                title: "噪音".into(),
                text: format!("第{i}号投诉：夜间施工噪音扰民"),
                address: "文三路".into(),
                location: None,
                triage: TriageRecord {
                    category: label("CAT.NOISE", 0.9),
                    department: label("DEPT.ENV", 0.9),
                    category_alternatives: vec![],
                    department_alternatives: vec![],
                    needs_review: false,
                    review_reasons: vec![],
                    model_version: "test".into(),
                },
                category: "CAT.NOISE".into(),
                department: "DEPT.ENV".into(),
                status: CaseStatus::Accepted,
                history: vec![],
                corrections: vec![],
                duplicate_of: None,
                duplicate_score: 0.0,
                reports: vec![],
                forwarding: ForwardingRecord::new(),
                dispatch: Default::default(),
            },
        }
    }

    pub fn request(mut self, id: impl Into<String>, digest: impl Into<String>) -> Self {
        self.record.request_id = id.into();
        self.record.request_digest = digest.into();
        self
    }

    pub fn jurisdiction(mut self, code: impl Into<String>) -> Self {
        self.record.jurisdiction = code.into();
        self
    }

    /// Caller phone and address (empty strings for a case without PII).
    pub fn caller(mut self, phone: impl Into<String>, address: impl Into<String>) -> Self {
        self.record.caller_phone = phone.into();
        self.record.address = address.into();
        self
    }

    pub fn title_text(mut self, title: impl Into<String>, text: impl Into<String>) -> Self {
        self.record.title = title.into();
        self.record.text = text.into();
        self
    }

    pub fn location(mut self, lat_lon: (f64, f64)) -> Self {
        self.record.location = Some(lat_lon);
        self
    }

    /// The triaged category and department (and the case's routing), each with `confidence`.
    pub fn routed(mut self, category: &str, department: &str, confidence: f32) -> Self {
        self.record.triage.category = label(category, confidence);
        self.record.triage.department = label(department, confidence);
        self.record.category = category.into();
        self.record.department = department.into();
        self
    }

    /// The runners-up of the triage, with the same confidence as the winners.
    pub fn alternatives(mut self, categories: &[&str], departments: &[&str]) -> Self {
        let c = self.record.triage.category.confidence;
        self.record.triage.category_alternatives = categories.iter().map(|k| label(k, c)).collect();
        self.record.triage.department_alternatives =
            departments.iter().map(|k| label(k, c)).collect();
        self
    }

    pub fn model_version(mut self, v: impl Into<String>) -> Self {
        self.record.triage.model_version = v.into();
        self
    }

    pub fn build(self) -> CaseRecord {
        self.record
    }

    /// A new case to insert: no dedup entry, not linked to a master.
    pub fn new_case(self) -> NewCase {
        NewCase {
            record: self.record,
            dedup: None,
            link_to: None,
        }
    }
}
