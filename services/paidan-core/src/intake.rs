//! The intake service: what the gRPC handlers call. Validation, triage, duplicate linking,
//! durable storage with group commit, and the case lifecycle.

use std::sync::Arc;

use arc_swap::ArcSwap;
use paidan_model::{Classifier, Scored, Triage};
use paidan_store::{
    AuditEvent, CaseEdit, CaseFilter, CaseReader, CaseRecord, CaseStatus, ForwardingRecord,
    HotIssue, Inserted, LabelRecord, Link, Millis, NewCase, OutboxEntry, Page, ReturnReason,
    Satisfaction, Store, StoreError, TriageRecord,
};
use paidan_text::{excerpt, now_millis};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use crate::audit;
use crate::commit::GroupCommit;
use crate::dedup::{Candidate, DedupSettings, Deduplicator};
use crate::dispatch::{Asked, Catalogue, DueFilter};
use crate::error::{CoreError, Result};
use crate::followup;
use crate::inference::{InferencePool, TriageText};
use crate::registry::{ModelRegistry, Reloaded};
use crate::returns;
use crate::rules::{self, Act};
use crate::validate::{self, Complaint, Limits};
use crate::writer::SubmitWriter;

/// Most cases one deadline-filtered listing reads from the store before it answers.
pub const DUE_SCAN_LIMIT: usize = 5_000;

#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct IntakeConfig {
    pub limits: Limits,
    pub dedup: DedupSettings,
    /// Inference threads (default: available cores).
    pub inference_threads: usize,
    /// Most requests one forward pass takes.
    pub max_batch: usize,
}

impl Default for IntakeConfig {
    fn default() -> Self {
        IntakeConfig {
            limits: Limits::default(),
            dedup: DedupSettings::default(),
            inference_threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            max_batch: 64,
        }
    }
}

/// The result of SubmitComplaint.
#[derive(Clone, Debug)]
pub struct Submitted {
    pub case: CaseRecord,
    pub created: bool,
}

pub struct Intake {
    store: Arc<dyn Store>,
    pool: InferencePool,
    commit: GroupCommit,
    dedup: Deduplicator,
    limits: Limits,
    /// Notified after every durable change, so the forwarder drains the outbox at once.
    changed: Arc<Notify>,
    /// Match-then-insert of every submit runs on this one thread, in arrival order, so two reports
    /// of one matter arriving together cannot both open a case; one flush per round.
    writer: SubmitWriter,
    /// Co-departments and deadlines (the built-in catalogue unless [`Intake::set_catalogue`]).
    catalogue: ArcSwap<Catalogue>,
}

fn label(s: &Scored) -> LabelRecord {
    LabelRecord {
        code: s.code.clone(),
        name: s.name.clone(),
        confidence: s.confidence,
    }
}

pub fn triage_record(t: &Triage) -> TriageRecord {
    TriageRecord {
        category: label(&t.category),
        department: label(&t.department),
        category_alternatives: t.category_alternatives.iter().map(label).collect(),
        department_alternatives: t.department_alternatives.iter().map(label).collect(),
        needs_review: t.needs_review,
        review_reasons: t.review_reasons.clone(),
        model_version: t.model_version.clone(),
    }
}

/// Content digest for idempotency: a retry must carry the same content. `received_at`, the request
/// type and the urgency count only when the client set them (a digest of a request without them is
/// what it was before they existed).
fn request_digest(c: &Complaint, asked: &Asked) -> String {
    let mut h = Sha256::new();
    for part in [
        c.title.as_str(),
        c.text.as_str(),
        c.jurisdiction.as_str(),
        c.caller_phone.as_str(),
        c.address.as_str(),
    ] {
        h.update(part.as_bytes());
        h.update([0x1f]);
    }
    // The wire number (= the stored discriminant), as before channels were decoded at the edge.
    h.update((c.channel as i32).to_le_bytes());
    if let Some((lat, lon)) = c.location {
        h.update(lat.to_le_bytes());
        h.update(lon.to_le_bytes());
    }
    if let Some(at) = c.received_at {
        h.update(at.to_le_bytes());
    }
    if let Some(t) = asked.request_type {
        h.update(b"request_type");
        h.update((t as i32).to_le_bytes());
    }
    if let Some(u) = asked.urgency {
        h.update(b"urgency");
        h.update((u as i32).to_le_bytes());
    }
    hex::encode(h.finalize())
}

impl Intake {
    pub fn new(
        store: Arc<dyn Store>,
        model: Option<Arc<Classifier>>,
        config: IntakeConfig,
    ) -> Intake {
        Intake::with_notifier(store, model, config, Arc::new(Notify::new()))
    }

    /// Like [`Intake::new`], notifying `changed` (e.g. the forwarder's) after every durable change.
    pub fn with_notifier(
        store: Arc<dyn Store>,
        model: Option<Arc<Classifier>>,
        config: IntakeConfig,
        changed: Arc<Notify>,
    ) -> Intake {
        Intake {
            commit: GroupCommit::new(store.clone()),
            pool: InferencePool::new(model, config.inference_threads, config.max_batch),
            dedup: Deduplicator::new(store.clone(), config.dedup),
            writer: SubmitWriter::new(store.clone(), 256),
            store,
            limits: config.limits,
            changed,
            catalogue: ArcSwap::from_pointee(Catalogue::builtin()),
        }
    }

    /// Dispatch with `catalogue` from now on (cases already stored keep their deadlines).
    pub fn set_catalogue(&self, catalogue: Catalogue) {
        self.catalogue.store(Arc::new(catalogue));
    }

    pub fn catalogue(&self) -> Arc<Catalogue> {
        self.catalogue.load_full()
    }

    /// The co-departments of a case of `category` in `jurisdiction` the model gave to `lead`
    /// (what Triage answers).
    pub fn co_departments(&self, jurisdiction: &str, category: &str, lead: &str) -> Vec<String> {
        let catalogue = self.catalogue.load();
        let c = catalogue.for_jurisdiction(jurisdiction);
        c.co_departments(category, c.lead(category, lead))
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Notified after every durable change (the forwarder waits on it).
    pub fn changes(&self) -> Arc<Notify> {
        self.changed.clone()
    }

    pub fn model(&self) -> Option<Arc<Classifier>> {
        self.pool.model()
    }

    /// Recent predictions against the serving model's training mix (`drift`).
    pub fn drift(&self) -> crate::drift::DriftReport {
        self.pool.drift()
    }

    /// The store's in-memory duplicate index: (cases, postings, table bytes), when it keeps one.
    pub fn dedup_index_size(&self) -> Option<(usize, usize, usize)> {
        self.store.dedup_index_size()
    }

    /// Serve `model` from now on; requests already in a batch finish on the old one.
    pub fn swap_model(&self, model: Arc<Classifier>) -> Option<Arc<Classifier>> {
        self.pool.swap(model)
    }

    pub(crate) async fn blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Store) -> Result<T> + Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .map_err(|e| CoreError::Storage(format!("store task failed: {e}")))?
    }

    /// Make every write so far durable, then wake the forwarder.
    async fn durable(&self) -> Result<()> {
        self.commit.commit().await?;
        self.changed.notify_one();
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(chars = text.text.chars().count()))]
    pub async fn triage(&self, text: TriageText) -> Result<Triage> {
        validate::check_text(&self.limits, &text.title, &text.text, &text.jurisdiction)
            .map_err(CoreError::Invalid)?;
        self.pool.triage(text).await
    }

    /// [`Intake::submit_asked`] with nothing asked: request type and urgency are guessed.
    pub async fn submit(&self, c: Complaint) -> Result<Submitted> {
        self.submit_asked(c, Asked::default()).await
    }

    /// File a complaint. The case is dispatched by the catalogue: co-departments of its category,
    /// a due instant from the request type and urgency (the operator's, else guessed from the
    /// text and marked so). A linked report is not dispatched (its master is): no co-departments,
    /// no deadline.
    #[tracing::instrument(skip_all, fields(request_id = %c.request_id, channel = ?c.channel))]
    pub async fn submit_asked(&self, c: Complaint, asked: Asked) -> Result<Submitted> {
        let now = now_millis();
        validate::check_complaint(&self.limits, &c, now).map_err(CoreError::Invalid)?;
        let channel = c.channel;
        // The jurisdiction the text names when the caller left it empty, and the places.
        let at = self.locate(&c.jurisdiction, &c.title, &c.text, &c.address)?;
        // Triage and fingerprint segment the text once (inference.rs).
        let (triage, fingerprint) = (self.pool)
            .triage_and_fingerprint(
                TriageText {
                    title: c.title.clone(),
                    text: c.text.clone(),
                    jurisdiction: at.jurisdiction.clone(),
                },
                c.address.clone(),
            )
            .await?;
        let received_at = c.received_at.unwrap_or(now);
        let category = triage.category.code.clone();
        let (department, mut dispatch) = crate::dispatch::new_case(
            &self.catalogue.load(),
            &at.jurisdiction,
            &category,
            &triage.department.code,
            asked,
            &c.title,
            &c.text,
            received_at,
        );
        dispatch.places = at.places;
        // Everything that does not depend on the match is built before the writer thread's turn.
        let mut record = CaseRecord {
            id: String::new(),
            request_id: c.request_id.clone(),
            request_digest: request_digest(&c, &asked),
            channel,
            received_at,
            created_at: now,
            jurisdiction: at.jurisdiction,
            caller_phone: c.caller_phone.clone(),
            title: c.title,
            text: c.text,
            address: c.address,
            location: c.location,
            category: category.clone(),
            department,
            triage: triage_record(&triage),
            status: CaseStatus::Accepted,
            history: Vec::new(),
            corrections: Vec::new(),
            duplicate_of: None,
            duplicate_score: 0.0,
            reports: Vec::new(),
            forwarding: ForwardingRecord::new(),
            dispatch,
        };
        let entry = self.dedup.entry(&fingerprint, &record);
        let dedup = self.dedup.clone();
        // Match and insert on the writer thread; answered after the flush that covers the insert.
        let Inserted { case, created } = self
            .writer
            .submit(Box::new(move |s: &dyn Store| {
                let matched = dedup.best_open_match(
                    s,
                    &fingerprint,
                    &record.jurisdiction,
                    &category,
                    received_at,
                )?;
                record.duplicate_of = matched.as_ref().map(|m| m.master_id.clone());
                record.duplicate_score = matched.as_ref().map_or(0.0, |m| m.score);
                if matched.is_some() {
                    record.dispatch.co_departments.clear();
                    record.dispatch.due_at = None;
                }
                let new = NewCase {
                    dedup: Some(entry),
                    link_to: matched.map(|m: Candidate| Link {
                        master_id: m.master_id,
                        score: m.score,
                        text_excerpt: excerpt(&record.text, rules::REPORT_EXCERPT_CHARS),
                    }),
                    record,
                };
                Ok(s.insert_case(new)?)
            }))
            .await?;
        self.changed.notify_one();
        tracing::info!(case_id = %case.id, created, duplicate_of = ?case.duplicate_of, "complaint stored");
        Ok(Submitted { case, created })
    }

    /// Best candidates for a dry run; stores nothing.
    pub async fn find_duplicates(
        &self,
        title: String,
        text: String,
        jurisdiction: String,
        address: String,
        received_at: Option<Millis>,
        limit: usize,
    ) -> Result<Vec<Candidate>> {
        validate::check_text(&self.limits, &title, &text, &jurisdiction)
            .map_err(CoreError::Invalid)?;
        let at = received_at.unwrap_or_else(now_millis);
        let (fp, category) = match self.pool.model() {
            Some(_) => {
                let t = TriageText {
                    title,
                    text,
                    jurisdiction: jurisdiction.clone(),
                };
                let (triage, fp) = self.pool.triage_and_fingerprint(t, address).await?;
                (fp, Some(triage.category.code))
            }
            None => (self.dedup.fingerprint(&title, &text, &address), None),
        };
        let dedup = self.dedup.clone();
        self.blocking(move |s| {
            dedup.ranked(
                s,
                &fp,
                &jurisdiction,
                category.as_deref(),
                at,
                limit.clamp(1, 100),
            )
        })
        .await
    }

    pub async fn get_case(&self, id: String) -> Result<CaseRecord> {
        self.blocking(move |s| {
            s.get_case(&id)?
                .ok_or_else(|| CoreError::NotFound(format!("case {id} not found")))
        })
        .await
    }

    pub async fn list_cases(
        &self,
        filter: CaseFilter,
        page_size: usize,
        token: Option<String>,
    ) -> Result<Page> {
        let size = if page_size == 0 {
            50
        } else {
            page_size.min(1000)
        };
        self.blocking(move |s| Ok(s.list_cases(&filter, size, token.as_deref())?))
            .await
    }

    /// [`Intake::list_cases`] with the deadline filters, applied to the store's pages in order.
    /// A page may then hold fewer than `page_size` cases — none, when the next matching case lies
    /// beyond the [`DUE_SCAN_LIMIT`] cases one call reads — and still have a next page token.
    pub async fn list_cases_due(
        &self,
        filter: CaseFilter,
        due: DueFilter,
        page_size: usize,
        token: Option<String>,
    ) -> Result<Page> {
        if !due.is_set() {
            return self.list_cases(filter, page_size, token).await;
        }
        let size = if page_size == 0 {
            50
        } else {
            page_size.min(1000)
        };
        self.blocking(move |s| {
            let (mut cases, mut token, mut scanned) = (Vec::new(), token, 0);
            // Each store page is read whole, so its token is exactly where the next call goes on.
            while cases.len() < size && scanned < DUE_SCAN_LIMIT {
                let page = s.list_cases(&filter, size - cases.len(), token.as_deref())?;
                scanned += page.cases.len();
                cases.extend(page.cases.into_iter().filter(|c| due.matches(c)));
                token = page.next_token;
                if token.is_none() {
                    break;
                }
            }
            Ok(Page {
                cases,
                next_token: token,
            })
        })
        .await
    }

    pub async fn update_status(
        &self,
        id: String,
        to: CaseStatus,
        note: String,
        actor: String,
    ) -> Result<CaseRecord> {
        let detail = format!("to {to:?}: {note}");
        let detail = move |_: &CaseRecord| detail;
        let target = id.clone();
        self.edit(
            "update_status",
            target,
            note,
            actor,
            detail,
            move |r, act| rules::update_status(r, &id, to, act),
        )
        .await
    }

    pub async fn correct_case(
        &self,
        id: String,
        category: Option<String>,
        department: Option<String>,
        note: String,
        actor: String,
    ) -> Result<CaseRecord> {
        if category.is_none() && department.is_none() {
            return Err(CoreError::Invalid(
                "nothing to correct: set category and/or department".into(),
            ));
        }
        if let Some(model) = self.pool.model() {
            let tax = model.taxonomy();
            if let Some(c) = &category
                && tax.category_name(c).is_none()
            {
                return Err(CoreError::Invalid(format!("unknown category code {c:?}")));
            }
            if let Some(d) = &department
                && tax.department_name(d).is_none()
            {
                return Err(CoreError::Invalid(format!("unknown department code {d:?}")));
            }
        }
        let n = note.clone();
        let detail = move |c: &CaseRecord| {
            format!("category {} department {}: {n}", c.category, c.department)
        };
        let target = id.clone();
        self.edit(
            "correct_case",
            target,
            note,
            actor,
            detail,
            move |r, act| rules::correct(r, &id, category.as_deref(), department.as_deref(), act),
        )
        .await
    }

    pub async fn split_report(
        &self,
        id: String,
        note: String,
        actor: String,
    ) -> Result<CaseRecord> {
        let (target, n) = (id.clone(), note.clone());
        let detail = move |_: &CaseRecord| n;
        self.edit(
            "split_report",
            target,
            note,
            actor,
            detail,
            move |r, act| rules::split(r, &id, act),
        )
        .await
    }

    pub async fn merge_cases(
        &self,
        master: String,
        duplicate: String,
        note: String,
        actor: String,
    ) -> Result<CaseRecord> {
        if master == duplicate {
            return Err(CoreError::Invalid("cannot merge a case into itself".into()));
        }
        let (target, n) = (format!("{master} <- {duplicate}"), note.clone());
        let detail = move |_: &CaseRecord| n;
        self.edit("merge_cases", target, note, actor, detail, move |r, act| {
            rules::merge(r, &master, &duplicate, act)
        })
        .await
    }

    /// Department `department` returns case `id` (退单); the case goes to the next best
    /// department that has not returned it, or to review when none is left
    /// ([`crate::returns::return_case`]). Recorded in the audit trail.
    pub async fn return_case(
        &self,
        id: String,
        department: String,
        reason: ReturnReason,
        note: String,
        actor: String,
    ) -> Result<CaseRecord> {
        if department.trim().is_empty() {
            return Err(CoreError::Invalid(
                "department is required: the department returning the case".into(),
            ));
        }
        let catalogue = self.catalogue.load_full();
        let (target, from) = (id.clone(), department.clone());
        let detail = move |c: &CaseRecord| {
            format!(
                "returned by {from} ({reason:?}); now {:?} with {}",
                c.status, c.department
            )
        };
        self.edit("return_case", target, note, actor, detail, move |r, act| {
            returns::return_case(r, &id, &department, reason, &catalogue, act)
        })
        .await
    }

    /// The caller's rating at the follow-up call (回访); dissatisfied reopens the case with a new
    /// deadline ([`crate::followup::record_follow_up`]). Recorded in the audit trail.
    pub async fn record_follow_up(
        &self,
        id: String,
        satisfaction: Satisfaction,
        note: String,
        actor: String,
    ) -> Result<CaseRecord> {
        let catalogue = self.catalogue.load_full();
        let target = id.clone();
        let detail = move |c: &CaseRecord| format!("{satisfaction:?}; now {:?}", c.status);
        self.edit(
            "record_follow_up",
            target,
            note,
            actor,
            detail,
            move |r, act| followup::record_follow_up(r, &id, satisfaction, &catalogue, act),
        )
        .await
    }

    /// Give case `id` `working_days` more (延期), for `reason`. Recorded in the audit trail.
    pub async fn extend_deadline(
        &self,
        id: String,
        working_days: u32,
        reason: String,
        actor: String,
    ) -> Result<CaseRecord> {
        let catalogue = self.catalogue.load_full();
        let target = id.clone();
        let detail = move |c: &CaseRecord| {
            format!("+{working_days} working days, due {:?}", c.dispatch.due_at)
        };
        let why = reason.clone();
        self.edit(
            "extend_deadline",
            target,
            reason,
            actor,
            detail,
            move |r, act| followup::extend_deadline(r, &id, working_days, &why, &catalogue, act),
        )
        .await
    }

    /// Run a case rule (`rules`) in one store transaction, record it in the audit trail, make it
    /// durable. The first case of the edit is the operation's result.
    async fn edit<R>(
        &self,
        action: &'static str,
        target: String,
        note: String,
        actor: String,
        detail: impl FnOnce(&CaseRecord) -> String + Send + 'static,
        rule: R,
    ) -> Result<CaseRecord>
    where
        R: Fn(&mut dyn CaseReader, Act<'_>) -> std::result::Result<CaseEdit, StoreError>
            + Send
            + 'static,
    {
        let case = self
            .blocking(move |s| {
                let at = now_millis();
                let act = Act {
                    note: &note,
                    actor: &actor,
                    at,
                };
                let case = s
                    .edit_cases(&|r| rule(r, act))?
                    .into_iter()
                    .next()
                    .ok_or_else(|| CoreError::Storage(format!("{action} wrote no case")))?;
                audit::record(s, at, &actor, action, &target, &detail(&case));
                Ok(case)
            })
            .await?;
        self.durable().await?;
        Ok(case)
    }

    /// Pending outbox entries (or dead letters) and how many there are.
    pub async fn outbox_list(&self, dead: bool, limit: usize) -> Result<(Vec<OutboxEntry>, u64)> {
        self.blocking(move |s| audit::outbox_list(s, dead, limit))
            .await
    }

    /// Move dead letters back to the outbox (all when `keys` is empty); recorded in the audit trail.
    pub async fn retry_dead_letters(&self, keys: Vec<String>, actor: String) -> Result<u32> {
        let n = self
            .blocking(move |s| audit::retry_dead_letters(s, &keys, &actor, now_millis()))
            .await?;
        self.changed.notify_one();
        Ok(n)
    }

    /// Delete the named dead letters; recorded in the audit trail.
    pub async fn drop_dead_letters(&self, keys: Vec<String>, actor: String) -> Result<u32> {
        self.blocking(move |s| audit::drop_dead_letters(s, &keys, &actor, now_millis()))
            .await
    }

    /// Serve the model `name` if the registry's eval gate admits it (or `force`); every attempt,
    /// refused ones included, is recorded in the audit trail.
    pub async fn reload_model(
        self: &Arc<Self>,
        registry: Arc<ModelRegistry>,
        name: std::path::PathBuf,
        force: bool,
        actor: String,
    ) -> Result<Reloaded> {
        let intake = self.clone();
        let target = name.display().to_string();
        let out = tokio::task::spawn_blocking(move || {
            let (model, r) = registry.admit(intake.model(), &name, force)?;
            intake.swap_model(Arc::new(model));
            Ok::<_, CoreError>(r)
        })
        .await
        .map_err(|e| CoreError::Model(format!("reload task failed: {e}")))?;
        let detail = match &out {
            Ok(r) => format!(
                "served {} (was {}); macro-F1 {:.3} vs {:.3}{}",
                r.model_version,
                r.previous_version,
                r.new_macro_f1,
                r.previous_macro_f1,
                if force { "; forced" } else { "" }
            ),
            Err(e) => format!("refused: {e}"),
        };
        if let Ok(r) = &out {
            tracing::info!(previous = %r.previous_version, serving = %r.model_version, force, "model reloaded");
        }
        self.blocking(move |s| {
            audit::record(s, now_millis(), &actor, "reload_model", &target, &detail);
            Ok(())
        })
        .await?;
        self.commit.commit().await?;
        out
    }

    /// The newest `limit` audit events, newest first.
    pub async fn audit_log(&self, limit: usize) -> Result<Vec<AuditEvent>> {
        self.blocking(move |s| Ok(s.audit_log(limit)?)).await
    }

    pub async fn hot_issues(
        &self,
        jurisdiction: Option<String>,
        category: Option<String>,
        since: Option<Millis>,
        until: Option<Millis>,
        limit: usize,
    ) -> Result<Vec<HotIssue>> {
        let until = until.unwrap_or_else(now_millis);
        let since = since.unwrap_or(until - 30 * 24 * 3600 * 1000);
        if since >= until {
            return Err(CoreError::Invalid("`since` must be before `until`".into()));
        }
        let limit = if limit == 0 { 20 } else { limit.min(500) };
        self.blocking(move |s| {
            Ok(s.hot_issues(
                jurisdiction.as_deref(),
                category.as_deref(),
                since,
                until,
                limit,
            )?)
        })
        .await
    }
}
