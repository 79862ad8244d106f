//! Storage records: the values of the sled trees as they are on disk, apart from the domain types.
//!
//! Why: postcard is positional. A stored value is its fields in declaration order with no names
//! and no tags, so adding, removing or reordering a field of a type that is written as-is makes
//! every stored value of that type unreadable. The domain types of [`crate::types`] are free to
//! change; the store never encodes them, it converts them to the records here (`From` both ways)
//! and encodes those. A record changes only together with [`crate::SCHEMA_VERSION`] and a migration
//! at open (as schema 1 → 2 does), and `tests/golden.rs` holds the bytes of every record as
//! schema 2 wrote them (decode, re-encode byte for byte, open a store made of them), so a change
//! that would make stored values unreadable fails a test instead of a deployment.
//!
//! Version: the schema number in `meta/schema_version` (u32 BE) names the layout of every value;
//! the records carry no per-value tag. The `V2` suffix is that schema number. A schema 3 adds
//! `…V3` records next to these (kept for the migration) and a `migrate_v2` at open.
//!
//! Enums are encoded as the variant's index (a varint) — not the `= n` discriminants of the
//! domain enums — so the variant order of the record enums below is the format.
//!
//! Layout of schema 2 (postcard; strings and vectors are a varint length then the items;
//! `Option` is a 0/1 byte then the value; integers are varints (zigzag for signed); f32/f64 are
//! little-endian IEEE):
//!
//! | tree            | record                         |
//! |-----------------|--------------------------------|
//! | `cases`         | [`CaseV4`] (schema 3: [`CaseV3`], schema 2: [`CaseV2`]) |
//! | `dedup_entries` | [`DedupEntryV2`]               |
//! | `corrections`   | [`CorrectionV2`]               |
//! | `outbox`, `dead_letters` | [`OutboxEntryV4`] (schema 3: [`OutboxEntryV3`], 2: [`OutboxEntryV2`]) |
//! | `outbox_queue`  | `Vec<u64>`                     |
//! | `audit`         | [`AuditEventV2`]               |
//!
//! Schema 3 (issue 16: dispatch) appends, and changes nothing before: a case is its [`CaseV2`]
//! bytes followed by a [`CaseDispatchV3`] (co-departments, deadline, request type, urgency,
//! returns, follow-ups, extensions), and an outbox entry is its [`OutboxEntryV2`] bytes followed
//! by the payload's dispatch (`Option`, present when the payload is). The other records keep
//! their schema 2 layout. New data goes last so a value's version follows from its length: a
//! schema 2 value is too short to read as schema 3, a schema 3 value leaves bytes over when read
//! as schema 2, so the migration (`migrate_v2`) can tell converted values from pending ones and
//! resumes after a crash.
//!
//! Schema 4 (issue 16: places, deadline events) appends the same way: a case is its [`CaseV3`]
//! bytes followed by a [`CaseExtrasV4`] (the places named in the complaint, and the deadlines its
//! due-soon and overdue events were sent for), an outbox entry its [`OutboxEntryV3`] bytes
//! followed by the frozen payload's extras ([`OutboxEntryV4`]); `migrate_v3` converts at open
//! and resumes as `migrate_v2` does. The event kind gained two variants at its end (DueSoon,
//! Overdue), which leaves every older value's bytes as they were.
//!
//! Schema 5 (a link no longer rewrites its matter, [`links`]) keeps a master's report links as
//! rows of their own: a master is its [`CaseV4`] bytes (no links in them) followed by a
//! [`CaseLinksV5`] head, a frozen outbox payload whose links are rows is followed by an
//! [`OutboxLinksV5`]. Both are optional
//! trailing bytes, so every schema 4 value is read as it is and nothing is converted at open.
//!
//! Schema 1 stored the same structs as JSON (field names), with outbox entries as
//! [`OutboxEntryV1`] (the case always copied); the migration reads them through these records.

use serde::{Deserialize, Serialize};

use crate::types::*;

/// A domain value the store writes, and the storage record it is written as.
pub(crate) trait Stored: Sized + Clone {
    type Record: Serialize + serde::de::DeserializeOwned + From<Self> + Into<Self>;
}

macro_rules! stored {
    ($($domain:ty => $record:ty),* $(,)?) => {
        $(impl Stored for $domain {
            type Record = $record;
        })*
    };
}

stored! {
    CaseRecord => CaseV4,
    DedupEntry => DedupEntryV2,
    CorrectionRecord => CorrectionV2,
    AuditEvent => AuditEventV2,
    Vec<u64> => Vec<u64>,
}

/// Both ways between a domain enum and its record enum, variant by variant.
macro_rules! enum_record {
    ($domain:ident <=> $record:ident { $($v:ident),* $(,)? }) => {
        impl From<$domain> for $record {
            fn from(x: $domain) -> $record {
                match x {
                    $($domain::$v => $record::$v,)*
                }
            }
        }
        impl From<$record> for $domain {
            fn from(x: $record) -> $domain {
                match x {
                    $($record::$v => $domain::$v,)*
                }
            }
        }
    };
}

/// Both ways between a domain struct and its record struct, field by field (each field converted
/// with `.into()`: scalars as they are, nested enums and structs to their records).
macro_rules! struct_record {
    ($domain:ident <=> $record:ident { $($f:ident),* $(,)? }) => {
        impl From<$domain> for $record {
            #[allow(clippy::useless_conversion)]
            fn from(x: $domain) -> $record {
                $record {
                    $($f: x.$f.into(),)*
                }
            }
        }
        impl From<$record> for $domain {
            #[allow(clippy::useless_conversion)]
            fn from(x: $record) -> $domain {
                $domain {
                    $($f: x.$f.into(),)*
                }
            }
        }
    };
}

fn each_vec<A: Into<B>, B>(v: Vec<A>) -> Vec<B> {
    v.into_iter().map(Into::into).collect()
}

/// Channel; variant order is the stored index (0 = Unspecified … 5 = Wechat).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChannelV2 {
    Unspecified,
    Hotline12345,
    Hotline12319,
    Web,
    App,
    Wechat,
}
enum_record!(Channel <=> ChannelV2 { Unspecified, Hotline12345, Hotline12319, Web, App, Wechat });

/// Case status; variant order is the stored index (0 = Accepted … 6 = Rejected).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CaseStatusV2 {
    Accepted,
    Dispatched,
    InProgress,
    Resolved,
    FollowedUp,
    Closed,
    Rejected,
}
enum_record!(CaseStatus <=> CaseStatusV2 {
    Accepted, Dispatched, InProgress, Resolved, FollowedUp, Closed, Rejected
});

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ForwardingStateV2 {
    Pending,
    Delivered,
    Dead,
    NotForwarded,
}
enum_record!(ForwardingState <=> ForwardingStateV2 { Pending, Delivered, Dead, NotForwarded });

/// Event kind; variant order is the stored index (0 = Created … 3 = Updated; schema 4 appended
/// 4 = DueSoon and 5 = Overdue: every older value reads as it did, and a store that may hold the
/// new kinds says schema 4, which an older build refuses to open).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKindV2 {
    Created,
    DuplicateLinked,
    Corrected,
    Updated,
    DueSoon,
    Overdue,
}
enum_record!(EventKind <=> EventKindV2 {
    Created, DuplicateLinked, Corrected, Updated, DueSoon, Overdue
});

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabelV2 {
    pub code: String,
    pub name: String,
    pub confidence: f32,
}
struct_record!(LabelRecord <=> LabelV2 { code, name, confidence });

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TriageV2 {
    pub category: LabelV2,
    pub department: LabelV2,
    pub category_alternatives: Vec<LabelV2>,
    pub department_alternatives: Vec<LabelV2>,
    pub needs_review: bool,
    pub review_reasons: Vec<String>,
    pub model_version: String,
}

impl From<TriageRecord> for TriageV2 {
    fn from(x: TriageRecord) -> TriageV2 {
        TriageV2 {
            category: x.category.into(),
            department: x.department.into(),
            category_alternatives: each_vec(x.category_alternatives),
            department_alternatives: each_vec(x.department_alternatives),
            needs_review: x.needs_review,
            review_reasons: x.review_reasons,
            model_version: x.model_version,
        }
    }
}

impl From<TriageV2> for TriageRecord {
    fn from(x: TriageV2) -> TriageRecord {
        TriageRecord {
            category: x.category.into(),
            department: x.department.into(),
            category_alternatives: each_vec(x.category_alternatives),
            department_alternatives: each_vec(x.department_alternatives),
            needs_review: x.needs_review,
            review_reasons: x.review_reasons,
            model_version: x.model_version,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusChangeV2 {
    pub from: CaseStatusV2,
    pub to: CaseStatusV2,
    pub note: String,
    pub actor: String,
    pub at: Millis,
}
struct_record!(StatusChange <=> StatusChangeV2 { from, to, note, actor, at });

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CorrectionV2 {
    pub case_id: String,
    pub category_before: String,
    pub category_after: String,
    pub department_before: String,
    pub department_after: String,
    pub predicted_category: String,
    pub predicted_department: String,
    pub model_version: String,
    pub note: String,
    pub actor: String,
    pub at: Millis,
}
struct_record!(CorrectionRecord <=> CorrectionV2 {
    case_id, category_before, category_after, department_before, department_after,
    predicted_category, predicted_department, model_version, note, actor, at
});

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportLinkV2 {
    pub case_id: String,
    pub request_id: String,
    pub received_at: Millis,
    pub score: f32,
    pub text_excerpt: String,
}
struct_record!(ReportLink <=> ReportLinkV2 { case_id, request_id, received_at, score, text_excerpt });

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ForwardingV2 {
    pub state: ForwardingStateV2,
    pub attempts: u32,
    pub last_error: String,
    pub delivered_at: Option<Millis>,
    pub events_delivered: u64,
    pub events_pending: u64,
    pub next_sequence: u64,
}
struct_record!(ForwardingRecord <=> ForwardingV2 {
    state, attempts, last_error, delivered_at, events_delivered, events_pending, next_sequence
});

/// A case (`cases` tree; also the payload of outbox entries and dead letters).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseV2 {
    pub id: String,
    pub request_id: String,
    pub request_digest: String,
    pub channel: ChannelV2,
    pub received_at: Millis,
    pub created_at: Millis,
    pub jurisdiction: String,
    pub caller_phone: String,
    pub title: String,
    pub text: String,
    pub address: String,
    pub location: Option<(f64, f64)>,
    pub triage: TriageV2,
    pub category: String,
    pub department: String,
    pub status: CaseStatusV2,
    pub history: Vec<StatusChangeV2>,
    pub corrections: Vec<CorrectionV2>,
    pub duplicate_of: Option<String>,
    pub duplicate_score: f32,
    pub reports: Vec<ReportLinkV2>,
    pub forwarding: ForwardingV2,
}

macro_rules! case_fields {
    ($from:ident, $x:ident $(, $extra:ident: $value:expr)*) => {
        $from {
            $($extra: $value,)*
            id: $x.id,
            request_id: $x.request_id,
            request_digest: $x.request_digest,
            channel: $x.channel.into(),
            received_at: $x.received_at,
            created_at: $x.created_at,
            jurisdiction: $x.jurisdiction,
            caller_phone: $x.caller_phone,
            title: $x.title,
            text: $x.text,
            address: $x.address,
            location: $x.location,
            triage: $x.triage.into(),
            category: $x.category,
            department: $x.department,
            status: $x.status.into(),
            history: each_vec($x.history),
            corrections: each_vec($x.corrections),
            duplicate_of: $x.duplicate_of,
            duplicate_score: $x.duplicate_score,
            reports: each_vec($x.reports),
            forwarding: $x.forwarding.into(),
        }
    };
}

impl From<CaseRecord> for CaseV2 {
    fn from(x: CaseRecord) -> CaseV2 {
        case_fields!(CaseV2, x)
    }
}

impl From<CaseV2> for CaseRecord {
    /// A schema 2 case has no dispatch data.
    fn from(x: CaseV2) -> CaseRecord {
        case_fields!(CaseRecord, x, dispatch: CaseDispatch::default())
    }
}

mod dispatch;
pub mod links;
pub use dispatch::*;
pub use links::*;

/// A dedup entry (`dedup_entries`). Opening the store reads the leading `(jurisdiction, bands)`
/// alone, so these two stay first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DedupEntryV2 {
    pub jurisdiction: String,
    pub bands: Vec<u64>,
    pub fingerprint: Vec<u8>,
    pub received_at: Millis,
    pub category: String,
}
struct_record!(DedupEntry <=> DedupEntryV2 { jurisdiction, bands, fingerprint, received_at, category });

/// An outbox entry or dead letter (`outbox`, `dead_letters`): `case` is None while the stored
/// case is still the event's payload (see the `sled_store` module docs); a dead letter always
/// carries it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntryV2 {
    pub seq: u64,
    pub idempotency_key: String,
    pub case_id: String,
    pub sequence: u64,
    pub kind: EventKindV2,
    pub occurred_at: Millis,
    pub case: Option<CaseV2>,
    pub delivered_to: Vec<String>,
    pub attempts: u32,
    pub last_error: String,
    pub enqueued_at: Millis,
    pub next_attempt_at: Millis,
}

/// An outbox entry or dead letter, schema 3: the schema 2 bytes (whose payload, when present, is
/// the case's schema 2 part), then the payload's dispatch data (`Some` exactly when `case` is).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntryV3 {
    pub entry: OutboxEntryV2,
    pub payload_dispatch: Option<CaseDispatchV3>,
}

impl From<OutboxEntryV2> for OutboxEntryV3 {
    /// Schema 2 → 3: a frozen payload stored before dispatch has none.
    fn from(entry: OutboxEntryV2) -> OutboxEntryV3 {
        OutboxEntryV3 {
            payload_dispatch: entry.case.as_ref().map(|_| CaseDispatchV3::default()),
            entry,
        }
    }
}

/// An outbox entry or dead letter, schema 4: the schema 3 bytes, then the payload's
/// [`CaseExtrasV4`] (`Some` exactly when the payload is frozen, as in schema 3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntryV4 {
    pub entry: OutboxEntryV3,
    pub payload_extras: Option<CaseExtrasV4>,
}

impl From<OutboxEntryV3> for OutboxEntryV4 {
    /// Schema 3 → 4: a frozen payload stored before places has none.
    fn from(entry: OutboxEntryV3) -> OutboxEntryV4 {
        OutboxEntryV4 {
            payload_extras: entry.entry.case.as_ref().map(|_| CaseExtrasV4::default()),
            entry,
        }
    }
}

impl OutboxEntryV4 {
    /// The payload's schema 4 fields, moved out of `case` (for the entry's writer).
    pub(crate) fn take_extras(case: Option<&mut CaseRecord>) -> Option<CaseExtrasV4> {
        case.map(|c| CaseExtrasV4::take(&mut c.dispatch))
    }

    /// Puts the payload's schema 4 fields back on `case`.
    pub(crate) fn put_extras(extras: Option<CaseExtrasV4>, case: Option<&mut CaseRecord>) {
        if let (Some(x), Some(c)) = (extras, case) {
            x.put(&mut c.dispatch);
        }
    }
}

/// Schema 1's outbox entry (JSON): the case always copied. Read only by the migration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntryV1 {
    pub seq: u64,
    pub idempotency_key: String,
    pub case_id: String,
    pub sequence: u64,
    pub kind: EventKindV2,
    pub occurred_at: Millis,
    pub case: CaseV2,
    pub delivered_to: Vec<String>,
    pub attempts: u32,
    pub last_error: String,
    pub enqueued_at: Millis,
    pub next_attempt_at: Millis,
}

impl From<OutboxEntry> for OutboxEntryV1 {
    fn from(e: OutboxEntry) -> OutboxEntryV1 {
        OutboxEntryV1 {
            seq: e.seq,
            idempotency_key: e.idempotency_key,
            case_id: e.case_id,
            sequence: e.sequence,
            kind: e.kind.into(),
            occurred_at: e.occurred_at,
            case: e.case.into(),
            delivered_to: e.delivered_to,
            attempts: e.attempts,
            last_error: e.last_error,
            enqueued_at: e.enqueued_at,
            next_attempt_at: e.next_attempt_at,
        }
    }
}

impl From<OutboxEntryV1> for OutboxEntryV2 {
    /// Schema 1 → 2: the payload is kept as a frozen copy.
    fn from(e: OutboxEntryV1) -> OutboxEntryV2 {
        OutboxEntryV2 {
            seq: e.seq,
            idempotency_key: e.idempotency_key,
            case_id: e.case_id,
            sequence: e.sequence,
            kind: e.kind,
            occurred_at: e.occurred_at,
            case: Some(e.case),
            delivered_to: e.delivered_to,
            attempts: e.attempts,
            last_error: e.last_error,
            enqueued_at: e.enqueued_at,
            next_attempt_at: e.next_attempt_at,
        }
    }
}

/// An audit event (`audit`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEventV2 {
    pub at: Millis,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
}
struct_record!(AuditEvent <=> AuditEventV2 { at, actor, action, target, detail });

// Public encodings: the bytes of these records for stores outside this crate (the PostgreSQL
// store keeps them in `bytea` columns), so every store shares one encoding and a new domain
// field reaches each of them through its record. `what` names the value in a `Corrupt` error.

fn to_bytes<T: Stored>(v: &T) -> Vec<u8> {
    // The records are plain data (no maps, no untagged enums), so serialisation cannot fail.
    postcard::to_stdvec(&T::Record::from(v.clone())).expect("store records serialise to postcard")
}

fn from_bytes<T: Stored>(what: &str, bytes: &[u8]) -> crate::Result<T> {
    postcard::from_bytes::<T::Record>(bytes)
        .map(Into::into)
        .map_err(|e| crate::StoreError::Corrupt {
            key: what.to_string(),
            reason: e.to_string(),
        })
}

/// A case as its [`CaseV4`] bytes (the [`CaseV3`] bytes, then the schema 4 additions).
pub fn encode_case(case: &CaseRecord) -> Vec<u8> {
    to_bytes(case)
}

/// A case from its [`CaseV4`] bytes, or from [`CaseV3`] or [`CaseV2`] bytes written before
/// (read without what the later schemas add): each schema only appends, so the length tells them
/// apart (see the module docs).
pub fn decode_case(what: &str, bytes: &[u8]) -> crate::Result<CaseRecord> {
    let v4 = match postcard::take_from_bytes::<CaseV4>(bytes) {
        Ok((v, [])) => return Ok(v.into()),
        v4 => v4,
    };
    if let Ok((v, [])) = postcard::take_from_bytes::<CaseV3>(bytes) {
        return Ok(v.into());
    }
    if let Ok((v, [])) = postcard::take_from_bytes::<CaseV2>(bytes) {
        return Ok(v.into());
    }
    Err(crate::StoreError::Corrupt {
        key: what.to_string(),
        reason: match v4 {
            Err(e) => e.to_string(),
            Ok((_, rest)) => format!("{} bytes after a case", rest.len()),
        },
    })
}

/// A dedup entry as its [`DedupEntryV2`] bytes.
pub fn encode_dedup_entry(entry: &DedupEntry) -> Vec<u8> {
    to_bytes(entry)
}

pub fn decode_dedup_entry(what: &str, bytes: &[u8]) -> crate::Result<DedupEntry> {
    from_bytes(what, bytes)
}

/// A correction as its [`CorrectionV2`] bytes.
pub fn encode_correction(correction: &CorrectionRecord) -> Vec<u8> {
    to_bytes(correction)
}

pub fn decode_correction(what: &str, bytes: &[u8]) -> crate::Result<CorrectionRecord> {
    from_bytes(what, bytes)
}

/// An audit event as its [`AuditEventV2`] bytes.
pub fn encode_audit_event(event: &AuditEvent) -> Vec<u8> {
    to_bytes(event)
}

pub fn decode_audit_event(what: &str, bytes: &[u8]) -> crate::Result<AuditEvent> {
    from_bytes(what, bytes)
}
