//! Places (地点): where a complaint is, from its address and text, and the jurisdiction it falls
//! in when the caller did not say.
//!
//! Why here and not a second extractor: paidan-dedup already finds the places and entities a
//! text names for duplicate matching (`paidan_dedup::entity`); [`paidan_dedup::entity::places`]
//! is that same extractor keeping the names as written, limited to where a case is (district or
//! county, street or town, road, estate, building). This module decides what a case keeps of it
//! and converts to the stored [`Place`].
//!
//! The jurisdiction: a caller that leaves it empty gets the jurisdiction of the dispatch
//! catalogue (`[jurisdictions."…"]`, see [`Catalogue::jurisdictions`]) its address, title or
//! text names — the catalogue is where a city lists the jurisdictions it dispatches differently,
//! so it is the list a name can be recognised from. The earliest named one wins (the address is
//! read first), a longer name over a shorter one at the same place ("鼓楼区" over "鼓楼"). A
//! jurisdiction the caller set is never changed.

use paidan_dedup::entity;
use paidan_store::{Place, PlaceKind};
use paidan_text::normalize;

use crate::dispatch::Catalogue;
use crate::{CoreError, Intake, Result, validate};

/// Where a complaint is: its jurisdiction (the caller's, else the one it names) and its places.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Located {
    pub jurisdiction: String,
    pub places: Vec<Place>,
}

fn kind(k: entity::PlaceKind) -> PlaceKind {
    match k {
        entity::PlaceKind::District => PlaceKind::District,
        entity::PlaceKind::Street => PlaceKind::Street,
        entity::PlaceKind::Road => PlaceKind::Road,
        entity::PlaceKind::Estate => PlaceKind::Estate,
        entity::PlaceKind::Building => PlaceKind::Building,
    }
}

/// The places `address`, `title` and `text` name: by kind (district, street, road, estate,
/// building), within a kind the address's first, then in the order of the title and text; each
/// name once.
pub fn places(title: &str, text: &str, address: &str) -> Vec<Place> {
    let body = [title, text]
        .iter()
        .filter(|s| !s.trim().is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("。");
    let mut out: Vec<Place> = Vec::new();
    for part in [address, body.as_str()] {
        for p in entity::places(&normalize(part)) {
            let p = Place {
                kind: kind(p.kind),
                name: p.name,
            };
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    // stable: within a kind, the address's places stay first
    out.sort_by_key(|p| p.kind);
    out
}

/// The catalogue jurisdiction the address, title or text names (see the module docs).
pub fn named_jurisdiction(
    catalogue: &Catalogue,
    title: &str,
    text: &str,
    address: &str,
) -> Option<String> {
    let all = normalize(&format!("{address}\n{title}\n{text}"));
    catalogue
        .jurisdictions()
        .filter(|j| !j.is_empty())
        .filter_map(|j| all.find(&normalize(j)).map(|at| (at, j)))
        .min_by_key(|(at, j)| (*at, std::cmp::Reverse(j.len())))
        .map(|(_, j)| j.to_string())
}

/// Where a complaint is (see the module docs).
pub fn locate(
    catalogue: &Catalogue,
    jurisdiction: &str,
    title: &str,
    text: &str,
    address: &str,
) -> Located {
    let jurisdiction = if jurisdiction.trim().is_empty() {
        named_jurisdiction(catalogue, title, text, address).unwrap_or_default()
    } else {
        jurisdiction.to_string()
    };
    Located {
        jurisdiction,
        places: places(title, text, address),
    }
}

impl Intake {
    /// Where a complaint is, by the serving dispatch catalogue ([`locate`]): what SubmitComplaint
    /// stores and Triage answers. The title, text and jurisdiction are checked against the limits
    /// first (the address is checked with the rest of a submit), so no oversized text is read.
    pub fn locate(
        &self,
        jurisdiction: &str,
        title: &str,
        text: &str,
        address: &str,
    ) -> Result<Located> {
        validate::check_text(self.limits(), title, text, jurisdiction)
            .map_err(CoreError::Invalid)?;
        Ok(locate(
            &self.catalogue(),
            jurisdiction,
            title,
            text,
            address,
        ))
    }
}
