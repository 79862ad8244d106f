//! The records schemas 3 and 4 append to a case (issue 16): schema 3 its dispatch data
//! ([`CaseDispatchV3`]: request type, urgency, co-departments, deadline, returns, follow-ups,
//! extensions), schema 4 its places and the deadlines its due-soon and overdue events were sent
//! for ([`CaseExtrasV4`]). Each is written after the bytes of the schema before (see the parent
//! module docs), so the length of a stored value tells its schema. Kept apart from the schema 2
//! records for size only; the same rules hold: the variant order of an enum and the field order
//! of a struct are the format, and `tests/golden.rs` holds their bytes.

use serde::{Deserialize, Serialize};

use super::{CaseV2, each_vec};
use crate::types::*;

/// Request type; variant order is the stored index (0 = Consultation … 5 = Praise).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestTypeV3 {
    Consultation,
    Help,
    Complaint,
    Report,
    Suggestion,
    Praise,
}
enum_record!(RequestType <=> RequestTypeV3 {
    Consultation, Help, Complaint, Report, Suggestion, Praise
});

/// Urgency; variant order is the stored index (0 = Normal … 2 = VeryUrgent).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum UrgencyV3 {
    Normal,
    Urgent,
    VeryUrgent,
}
enum_record!(Urgency <=> UrgencyV3 { Normal, Urgent, VeryUrgent });

/// Return reason; variant order is the stored index (0 = NotOurResponsibility … 4 = Other).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReturnReasonV3 {
    NotOurResponsibility,
    InformationIncomplete,
    Duplicate,
    AlreadyHandled,
    Other,
}
enum_record!(ReturnReason <=> ReturnReasonV3 {
    NotOurResponsibility, InformationIncomplete, Duplicate, AlreadyHandled, Other
});

/// Satisfaction; variant order is the stored index (0 = Satisfied … 2 = Dissatisfied).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SatisfactionV3 {
    Satisfied,
    BasicallySatisfied,
    Dissatisfied,
}
enum_record!(Satisfaction <=> SatisfactionV3 { Satisfied, BasicallySatisfied, Dissatisfied });

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseReturnV3 {
    pub department: String,
    pub reason: ReturnReasonV3,
    pub note: String,
    pub actor: String,
    pub at: Millis,
}
struct_record!(CaseReturn <=> CaseReturnV3 { department, reason, note, actor, at });

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FollowUpV3 {
    pub satisfaction: SatisfactionV3,
    pub note: String,
    pub actor: String,
    pub at: Millis,
}
struct_record!(FollowUp <=> FollowUpV3 { satisfaction, note, actor, at });

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeadlineExtensionV3 {
    pub from: Option<Millis>,
    pub to: Millis,
    pub reason: String,
    pub actor: String,
    pub at: Millis,
}
struct_record!(DeadlineExtension <=> DeadlineExtensionV3 { from, to, reason, actor, at });

/// A case's dispatch data (schema 3).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CaseDispatchV3 {
    pub co_departments: Vec<String>,
    pub due_at: Option<Millis>,
    pub request_type: Option<RequestTypeV3>,
    pub request_type_guessed: bool,
    pub urgency: Option<UrgencyV3>,
    pub urgency_guessed: bool,
    pub returns: Vec<CaseReturnV3>,
    pub follow_ups: Vec<FollowUpV3>,
    pub extensions: Vec<DeadlineExtensionV3>,
}

macro_rules! dispatch_fields {
    ($to:ident, $x:ident $(, $extra:ident: $value:expr)*) => {
        $to {
            $($extra: $value,)*
            co_departments: $x.co_departments,
            due_at: $x.due_at,
            request_type: $x.request_type.map(Into::into),
            request_type_guessed: $x.request_type_guessed,
            urgency: $x.urgency.map(Into::into),
            urgency_guessed: $x.urgency_guessed,
            returns: each_vec($x.returns),
            follow_ups: each_vec($x.follow_ups),
            extensions: each_vec($x.extensions),
        }
    };
}

impl From<CaseDispatch> for CaseDispatchV3 {
    fn from(x: CaseDispatch) -> CaseDispatchV3 {
        dispatch_fields!(CaseDispatchV3, x)
    }
}

impl From<CaseDispatchV3> for CaseDispatch {
    /// A schema 3 case has no places and no deadline events sent.
    fn from(x: CaseDispatchV3) -> CaseDispatch {
        dispatch_fields!(CaseDispatch, x, places: Vec::new(), due_soon_sent_for: None, overdue_sent_for: None)
    }
}

/// A case (`cases` tree; also the payload of outbox entries and dead letters), schema 3: the
/// schema 2 bytes, then the dispatch data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseV3 {
    pub case: CaseV2,
    pub dispatch: CaseDispatchV3,
}

impl From<CaseRecord> for CaseV3 {
    fn from(mut x: CaseRecord) -> CaseV3 {
        let dispatch = std::mem::take(&mut x.dispatch).into();
        CaseV3 {
            case: x.into(),
            dispatch,
        }
    }
}

impl From<CaseV3> for CaseRecord {
    fn from(x: CaseV3) -> CaseRecord {
        let mut c: CaseRecord = x.case.into();
        c.dispatch = x.dispatch.into();
        c
    }
}

impl From<CaseV2> for CaseV3 {
    /// Schema 2 → 3: a case stored before dispatch has none.
    fn from(case: CaseV2) -> CaseV3 {
        CaseV3 {
            case,
            dispatch: CaseDispatchV3::default(),
        }
    }
}

/// Place kind; variant order is the stored index (0 = District … 4 = Building).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PlaceKindV4 {
    District,
    Street,
    Road,
    Estate,
    Building,
}
enum_record!(PlaceKind <=> PlaceKindV4 { District, Street, Road, Estate, Building });

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlaceV4 {
    pub kind: PlaceKindV4,
    pub name: String,
}
struct_record!(Place <=> PlaceV4 { kind, name });

/// What schema 4 adds to a case: its places and the deadlines its due-soon and overdue events
/// were sent for.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CaseExtrasV4 {
    pub places: Vec<PlaceV4>,
    pub due_soon_sent_for: Option<Millis>,
    pub overdue_sent_for: Option<Millis>,
}

impl CaseExtrasV4 {
    /// Moves the schema 4 fields out of `d` (leaving what schema 3 stores).
    pub(super) fn take(d: &mut CaseDispatch) -> CaseExtrasV4 {
        CaseExtrasV4 {
            places: each_vec(std::mem::take(&mut d.places)),
            due_soon_sent_for: d.due_soon_sent_for.take(),
            overdue_sent_for: d.overdue_sent_for.take(),
        }
    }

    pub(super) fn put(self, d: &mut CaseDispatch) {
        d.places = each_vec(self.places);
        d.due_soon_sent_for = self.due_soon_sent_for;
        d.overdue_sent_for = self.overdue_sent_for;
    }
}

/// A case (`cases` tree; also the payload of outbox entries and dead letters), schema 4: the
/// schema 3 bytes, then [`CaseExtrasV4`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseV4 {
    pub case: CaseV3,
    pub extras: CaseExtrasV4,
}

impl From<CaseRecord> for CaseV4 {
    fn from(mut x: CaseRecord) -> CaseV4 {
        let extras = CaseExtrasV4::take(&mut x.dispatch);
        CaseV4 {
            case: x.into(),
            extras,
        }
    }
}

impl From<CaseV4> for CaseRecord {
    fn from(x: CaseV4) -> CaseRecord {
        let mut c: CaseRecord = x.case.into();
        x.extras.put(&mut c.dispatch);
        c
    }
}

impl From<CaseV3> for CaseV4 {
    /// Schema 3 → 4: a case stored before places has none, and no deadline event was sent.
    fn from(case: CaseV3) -> CaseV4 {
        CaseV4 {
            case,
            extras: CaseExtrasV4::default(),
        }
    }
}
