//! Duplicate linking on top of `paidan-dedup` (the decision) and the store (the LSH band index).
//!
//! Candidates come only from shared band keys (sub-linear), are scored with the same decision
//! code that `paidan eval-dedup` measures, and resolve to the open master case of their matter.

use std::collections::HashMap;
use std::sync::Arc;

use paidan_dedup::{DedupConfig, Fingerprint, MatchContext};
use paidan_store::{CaseHead, CaseRecord, DedupEntry, Millis, Store};

use crate::error::{CoreError, Result};
use paidan_text::excerpt;

/// Bring the store's duplicate index to this build's fingerprint version, whose band layout its
/// lookups use: every stored entry of an older version is read with its signature and written
/// back with this version's keys ([`Store::rekey_dedup`]). Call it once at startup, before any
/// lookup; a store already at this version is not read. An entry that does not decode is left as
/// it is (its lookup reports it, as before). Returns the entries rewritten.
pub fn rekey(store: &dyn Store) -> Result<u64> {
    let version = u32::from(paidan_dedup::FINGERPRINT_VERSION);
    if store.dedup_key_version()? == version {
        return Ok(0);
    }
    let started = std::time::Instant::now();
    let rewritten = store.rekey_dedup(version, &|e: &DedupEntry| {
        if Fingerprint::is_current(&e.fingerprint) {
            return None;
        }
        let fp = Fingerprint::from_bytes(&e.fingerprint).ok()?;
        Some(DedupEntry {
            bands: fp.bands().to_vec(),
            fingerprint: fp.to_bytes(),
            ..e.clone()
        })
    })?;
    tracing::info!(
        rewritten,
        version,
        ms = started.elapsed().as_millis() as u64,
        "duplicate index at this build's fingerprint version"
    );
    Ok(rewritten)
}

#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct DedupSettings {
    /// Turn linking off (every complaint opens a case).
    pub enabled: bool,
    /// How many band-sharing candidates are scored at most.
    pub max_candidates: usize,
    #[serde(flatten)]
    pub decision: DedupConfig,
}

impl Default for DedupSettings {
    fn default() -> Self {
        DedupSettings {
            enabled: true,
            max_candidates: 32,
            decision: DedupConfig::default(),
        }
    }
}

/// A scored earlier case of (possibly) the same matter.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// The open master case of the matter.
    pub master_id: String,
    /// The case whose text matched (the master or one of its linked reports).
    pub matched_id: String,
    pub score: f32,
    pub is_duplicate: bool,
    pub text_excerpt: String,
}

#[derive(Clone)]
pub struct Deduplicator {
    settings: Arc<DedupSettings>,
}

impl Deduplicator {
    pub fn new(_store: Arc<dyn Store>, settings: DedupSettings) -> Deduplicator {
        Deduplicator {
            settings: Arc::new(settings),
        }
    }

    pub fn fingerprint(&self, title: &str, text: &str, address: &str) -> Fingerprint {
        Fingerprint::new(title, text, address)
    }

    /// What the store indexes for a new case.
    pub fn entry(&self, fp: &Fingerprint, case: &CaseRecord) -> DedupEntry {
        DedupEntry {
            jurisdiction: case.jurisdiction.clone(),
            bands: fp.bands().to_vec(),
            fingerprint: fp.to_bytes(),
            received_at: case.received_at,
            category: case.category.clone(),
        }
    }

    /// Scored candidates, best first, each resolved to its open master (one row per master).
    pub fn ranked(
        &self,
        store: &dyn Store,
        fp: &Fingerprint,
        jurisdiction: &str,
        category: Option<&str>,
        at: Millis,
        limit: usize,
    ) -> Result<Vec<Candidate>> {
        let decision = &self.settings.decision;
        // Candidates, each with its master's full text: the masked excerpt is made only for the
        // rows returned (masking every scored master's text was ~6 % of a lookup).
        let mut out: Vec<(Candidate, String)> = Vec::new();
        let band_candidates = self.band_candidates(store, fp, jurisdiction, at)?;
        let mut masters: HashMap<String, Option<Arc<CaseHead>>> = HashMap::new();
        for (id, _shared) in band_candidates {
            let Some(entry) = store.dedup_entry(&id)? else {
                continue;
            };
            let other = decode_fingerprint(&id, &entry)?;
            let Some(head) = open_master(store, &id, &mut masters)? else {
                continue;
            };
            let Some(gap) = matter_gap(&entry, &head, at, decision.window_ms) else {
                continue;
            };
            let ctx = MatchContext {
                same_category: category.is_none_or(|c| c == entry.category),
                gap_ms: gap,
                same_jurisdiction: true,
            };
            let score = paidan_dedup::score(fp, &other, &ctx);
            let master = &head.case;
            let cand = Candidate {
                master_id: master.id.clone(),
                matched_id: id,
                score: score.score,
                is_duplicate: decision.is_duplicate(&score),
                text_excerpt: String::new(),
            };
            match out.iter_mut().find(|(c, _)| c.master_id == cand.master_id) {
                Some((c, _)) if c.score < cand.score => *c = cand,
                Some(_) => {}
                None => out.push((cand, master.text.clone())),
            }
        }
        out.sort_by(|a, b| b.0.score.total_cmp(&a.0.score));
        out.truncate(limit);
        Ok(out
            .into_iter()
            .map(|(c, text)| self.finish(c, &text))
            .collect())
    }

    /// The cases sharing band keys with `fp`, received within the window around `at` (see the
    /// gap rule in [`matter_gap`]), most keys shared first, at most `max_candidates`.
    fn band_candidates(
        &self,
        store: &dyn Store,
        fp: &Fingerprint,
        jurisdiction: &str,
        at: Millis,
    ) -> Result<Vec<(String, u32)>> {
        let window = self.settings.decision.window_ms;
        Ok(store.dedup_candidates(
            jurisdiction,
            fp.bands(),
            at.saturating_sub(window),
            at.saturating_add(window),
            self.settings.max_candidates,
        )?)
    }

    fn finish(&self, mut c: Candidate, master_text: &str) -> Candidate {
        c.is_duplicate &= self.settings.enabled;
        c.text_excerpt = excerpt(&paidan_text::mask_pii(master_text), 80);
        c
    }

    /// The open master case this report should be linked to, if any: of the band candidates
    /// whose matter is open and within the window, the one scoring highest, if it reaches the
    /// threshold (ties: the candidate with the higher ceiling, then the one the store ranked
    /// first).
    ///
    /// Every candidate's fingerprint is read and scored first at the smallest gap its own
    /// received instant allows: its *ceiling*, since the score only falls as the gap grows
    /// (`Weights::age_per_doubling <= 0`). One under the threshold is dropped before any case
    /// is read. The rest are resolved to their masters best ceiling first, and the walk stops
    /// once no ceiling left can beat the best score found: the case heads of candidates that
    /// cannot win are not read (a matter reported many times makes most candidates its own
    /// reports, all with the top ceiling).
    pub fn best_open_match(
        &self,
        store: &dyn Store,
        fp: &Fingerprint,
        jurisdiction: &str,
        category: &str,
        at: Millis,
    ) -> Result<Option<Candidate>> {
        if !self.settings.enabled {
            return Ok(None);
        }
        let started = std::time::Instant::now();
        let decision = &self.settings.decision;
        let band_candidates = self.band_candidates(store, fp, jurisdiction, at)?;
        crate::metrics::dedup_candidates(band_candidates.len());
        // With a score that could rise with the gap there is no ceiling: every candidate is
        // resolved, in the store's order.
        let bounded = paidan_dedup::Weights::default().age_per_doubling <= 0.0;
        let mut ceilings = Vec::with_capacity(band_candidates.len());
        for (id, _shared) in band_candidates {
            let Some(entry) = store.dedup_entry(&id)? else {
                continue;
            };
            let other = decode_fingerprint(&id, &entry)?;
            let same_category = category == entry.category;
            let ceiling = if bounded {
                let at_best = paidan_dedup::score(
                    fp,
                    &other,
                    &MatchContext {
                        same_category,
                        gap_ms: (entry.received_at - at).max(0),
                        same_jurisdiction: true,
                    },
                );
                if !decision.is_duplicate(&at_best) {
                    continue;
                }
                at_best.score
            } else {
                f32::INFINITY
            };
            ceilings.push((ceiling, id, entry, other, same_category));
        }
        // Stable: equal ceilings keep the store's order.
        ceilings.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut masters: HashMap<String, Option<Arc<CaseHead>>> = HashMap::new();
        let mut best: Option<(Candidate, Arc<CaseHead>)> = None;
        for (ceiling, id, entry, other, same_category) in ceilings {
            if best.as_ref().is_some_and(|(b, _)| ceiling <= b.score) {
                break;
            }
            let Some(head) = open_master(store, &id, &mut masters)? else {
                continue;
            };
            let Some(gap) = matter_gap(&entry, &head, at, decision.window_ms) else {
                continue;
            };
            let ctx = MatchContext {
                same_category,
                gap_ms: gap,
                same_jurisdiction: true,
            };
            let score = paidan_dedup::score(fp, &other, &ctx);
            if !decision.is_duplicate(&score)
                || best.as_ref().is_some_and(|(b, _)| score.score <= b.score)
            {
                continue;
            }
            let cand = Candidate {
                master_id: head.case.id.clone(),
                matched_id: id,
                score: score.score,
                is_duplicate: true,
                text_excerpt: String::new(),
            };
            best = Some((cand, head));
        }
        let found = best.map(|(c, head)| self.finish(c, &head.case.text));
        crate::metrics::dedup_lookup(found.is_some(), started.elapsed());
        Ok(found)
    }
}

fn decode_fingerprint(id: &str, entry: &DedupEntry) -> Result<Fingerprint> {
    Fingerprint::from_bytes(&entry.fingerprint).map_err(|e| {
        CoreError::Storage(format!("dedup fingerprint of case {id} is unreadable: {e}"))
    })
}

/// The open master of the matter case `id` belongs to: the case's head, or its master's when
/// it is a linked report; `None` when either is gone or the master is closed. Heads only (a
/// master without its report links), and a matter's master once per lookup (`masters`): the
/// candidates of a matter reported many times are mostly its reports.
fn open_master(
    store: &dyn Store,
    id: &str,
    masters: &mut HashMap<String, Option<Arc<CaseHead>>>,
) -> Result<Option<Arc<CaseHead>>> {
    let head = match masters.get(id) {
        Some(m) => m.clone(),
        None => {
            let Some(head) = store.get_case_head(id)? else {
                return Ok(None);
            };
            match head.case.duplicate_of.clone() {
                Some(m) => match masters.get(&m) {
                    Some(known) => known.clone(),
                    None => {
                        let found = store.get_case_head(&m)?.map(Arc::new);
                        masters.insert(m, found.clone());
                        found
                    }
                },
                None => {
                    let head = Arc::new(head);
                    masters.insert(id.to_string(), Some(head.clone()));
                    Some(head)
                }
            }
        }
    };
    Ok(head.filter(|h| h.case.status.is_open()))
}

/// The gap between a report at `at` and the matter of `entry` (master `head`), or `None` past
/// the window. The window runs from the matter's activity span — from the matched report to the
/// master's latest report — so a matter that keeps being reported stays linkable.
fn matter_gap(entry: &DedupEntry, head: &CaseHead, at: Millis, window_ms: i64) -> Option<Millis> {
    let (first, last) = (
        entry.received_at,
        head.last_report_at.max(entry.received_at),
    );
    let gap = if at < first {
        first - at
    } else {
        at.saturating_sub(last).max(0)
    };
    (gap <= window_ms).then_some(gap)
}

#[cfg(test)]
mod tests {
    use paidan_store::*;

    use super::*;
    use crate::test_store::{Probe, record};

    const AT: Millis = 1_767_225_600_000;
    const TEXT: &str =
        "幸福家园小区从今天早上开始停水，到现在还没有来水，也没有任何通知，请尽快处理。";

    fn case(request_id: &str, received_at: Millis) -> CaseRecord {
        CaseRecord {
            request_digest: request_id.into(),
            jurisdiction: "海口市".into(),
            title: "停水".into(),
            text: TEXT.into(),
            category: "CAT.WATER".into(),
            department: "DEPT.WATER".into(),
            ..record(request_id, received_at)
        }
    }

    /// A matter reported many times: every band candidate is the master or one of its reports,
    /// and the lookup resolves them all to the master while reading the master once (the record
    /// that grows with the matter), and still finds it.
    #[test]
    fn a_lookup_reads_a_matters_master_once() {
        let store = Arc::new(Probe::new(SledStore::open_temporary().unwrap()));
        let dedup = Deduplicator::new(store.clone(), DedupSettings::default());
        let fp = dedup.fingerprint("停水", TEXT, "");
        let mut master_id = String::new();
        for i in 0..12 {
            let rec = case(&format!("r-{i}"), AT + i * 60_000);
            let link_to = (i > 0).then(|| Link {
                master_id: master_id.clone(),
                score: 0.9,
                text_excerpt: String::new(),
            });
            let mut entry = dedup.entry(&fp, &rec);
            entry.received_at = rec.received_at;
            let inserted = store
                .insert_case(NewCase {
                    record: rec,
                    dedup: Some(entry),
                    link_to,
                })
                .unwrap();
            if i == 0 {
                master_id = inserted.case.id.clone();
            }
        }
        assert_eq!(
            store.get_case(&master_id).unwrap().unwrap().reports.len(),
            11
        );
        let before = store.reads_of(&master_id);
        let all_before = store.all_case_reads();

        let found = dedup
            .best_open_match(store.as_ref(), &fp, "海口市", "CAT.WATER", AT + 3_600_000)
            .unwrap()
            .expect("the matter is found");
        assert_eq!(found.master_id, master_id);
        assert!(found.is_duplicate);
        assert_eq!(store.reads_of(&master_id) - before, 1);
        // Twelve candidates with one ceiling: the first resolved scores it, and no other can
        // beat it, so only its head and its master's are read.
        assert_eq!(store.all_case_reads() - all_before, 2);
        // `ranked` (every master's best row) still resolves them all, and agrees.
        let ranked = dedup
            .ranked(
                store.as_ref(),
                &fp,
                "海口市",
                Some("CAT.WATER"),
                AT + 3_600_000,
                5,
            )
            .unwrap();
        assert_eq!(ranked.len(), 1);
        assert_eq!(ranked[0].master_id, found.master_id);
        assert_eq!(ranked[0].score, found.score);
    }

    /// A store written before fingerprint version 3 holds version-2 keys (42 × 3 text bands),
    /// which no new report's text bands meet (only its place keys do). The re-key gives every
    /// entry this version's keys from its signature: the matter is found again, and a second
    /// start reads nothing.
    #[test]
    fn a_store_of_version_2_keys_finds_its_matters_after_the_rekey() {
        let store = SledStore::open_temporary().unwrap();
        let dedup = Deduplicator::new(
            Arc::new(SledStore::open_temporary().unwrap()),
            DedupSettings::default(),
        );
        let fp = dedup.fingerprint("停水", TEXT, "");
        let rec = case("r-old", AT);
        let (bands, fingerprint) = fp.as_version_2();
        let master = store
            .insert_case(NewCase {
                dedup: Some(DedupEntry {
                    bands,
                    fingerprint,
                    ..dedup.entry(&fp, &rec)
                }),
                record: rec,
                link_to: None,
            })
            .unwrap()
            .case
            .id;
        let find = || {
            dedup
                .best_open_match(&store, &fp, "海口市", "CAT.WATER", AT + 3_600_000)
                .unwrap()
                .map(|c| c.master_id)
        };
        // The keys the stored entry shares with the new report's.
        let shared = || {
            let found = store
                .dedup_candidates("海口市", fp.bands(), i64::MIN, i64::MAX, 10)
                .unwrap();
            found.first().map_or(0, |c| c.1 as usize)
        };
        let mut keys = fp.bands().to_vec();
        keys.sort_unstable();
        keys.dedup();
        let text_bands = paidan_dedup::sketch::NUM_BANDS;
        assert!(keys.len() > text_bands, "the text names a place");
        assert_eq!(
            shared(),
            keys.len() - text_bands,
            "only the place keys meet"
        );
        assert_eq!(store.dedup_key_version().unwrap(), 0);

        assert_eq!(rekey(&store).unwrap(), 1);
        assert_eq!(shared(), keys.len(), "every key meets");
        assert_eq!(find(), Some(master.clone()));
        let entry = store.dedup_entry(&master).unwrap().unwrap();
        assert_eq!(entry.bands, fp.bands());
        assert_eq!(entry.fingerprint, fp.to_bytes());
        assert_eq!(
            store.dedup_key_version().unwrap(),
            u32::from(paidan_dedup::FINGERPRINT_VERSION)
        );
        assert_eq!(
            rekey(&store).unwrap(),
            0,
            "a store at this version is not read"
        );
    }
}
