//! A writer round in one transaction ([`Store::begin_round`] … [`Store::flush`]).
//!
//! Why: paidan's submit writer (`paidan-core`'s `writer.rs`) runs every SubmitComplaint's lookup
//! and insert on one thread, a round of them at a time, and answers the round after one flush.
//! With a transaction per insert, each case paid its own BEGIN and COMMIT and every lookup read
//! took a pooled connection of its own: one node on PostgreSQL did about 170 submits/s. Here the
//! writer thread's round is one transaction on a connection that thread owns:
//!
//! - [`PgStore::begin_round`] opens it (`BEGIN ISOLATION LEVEL READ COMMITTED`: every statement
//!   sees what others committed before it, so the lease fence and the request-id check read
//!   fresh rows);
//! - inside it, the writer thread's `insert_case`, `get_case`, `dedup_candidates` and
//!   `dedup_entry` run on the round's transaction, so a job sees the cases of the round's earlier
//!   jobs (two reports of one matter in one round share one case; a request id repeated in one
//!   round is answered idempotently). Calls from every other thread (the gRPC handlers' reads,
//!   the forwarder, edits, the lease keeper) keep using the pool and see none of it until COMMIT;
//! - each insert runs under a SAVEPOINT (sent with the release of the previous one: one round
//!   trip): a refused insert (conflict, fenced, invalid, a database error) rolls back to it and
//!   the round's other inserts stay;
//! - the figures' counters of the round's inserts are summed in memory and written by one UPSERT
//!   just before COMMIT, in key order: the hot counter rows are locked for the COMMIT only, not
//!   for the whole round, and never in an order that could deadlock with another writer's;
//! - [`Store::flush`] on the writer thread COMMITs. A failed COMMIT, a lost connection or any
//!   statement that failed outside a savepoint (which aborts the transaction: PostgreSQL would
//!   then answer COMMIT with a silent ROLLBACK, so the round remembers the failure itself) fails
//!   the flush, and the writer fails every job of the round: nothing of it is acknowledged.
//!   After a lost connection the outcome of the COMMIT is unknown; clients retry with their
//!   request ids, which the store answers idempotently.
//!
//! The lease fence runs inside every insert, in the round's transaction (`lease.rs`): the lease
//! row stays share-locked until the COMMIT, so a takeover waits for the round, and the expiry is
//! checked against each statement's start, so a lease that ran out mid-round refuses the inserts
//! after it. A NOTIFY sent inside the transaction is delivered at COMMIT.
//!
//! The lookup costs one round trip: the candidates come with their dedup entries, their cases
//! and their masters (kept until the round's next insert, so the lookup's `dedup_entry` and
//! `get_case` calls are answered from memory). A new case costs three more: the savepoint, the
//! request-id check with the fence and the case number, and the writes (`insert`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use paidan_store::*;

use crate::insert::{Deltas, add_deltas};
use crate::owned::Pending;
use crate::session::{Conn, Session};
use crate::{PgStore, Tx, TxError, db};

const SAVEPOINT: &str = "SAVEPOINT paidan_insert";
const RELEASE_AND_SAVEPOINT: &str = "RELEASE SAVEPOINT paidan_insert; SAVEPOINT paidan_insert";
const ROLLBACK_TO: &str = "ROLLBACK TO SAVEPOINT paidan_insert";

/// A small number naming the calling thread (0 is never one).
fn thread_token() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static TOKEN: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    TOKEN.with(|t| *t)
}

/// The writer's round: which thread holds it, and its connection and state.
#[derive(Default)]
pub(crate) struct Rounds {
    /// The token of the thread whose round is open; 0 when none is. Other threads read it only
    /// to learn that the round is not theirs (and never lock `slot`).
    owner: AtomicU64,
    slot: Mutex<Slot>,
}

#[derive(Default)]
struct Slot {
    /// The round's connection, kept between rounds (with its prepared statements); dropped when
    /// it failed.
    conn: Option<Conn>,
    /// Why the open round cannot commit (a statement failed outside a savepoint).
    failed: Option<String>,
    /// A savepoint of an earlier insert exists (released when the next one is set).
    savepoint: bool,
    /// The figures' deltas of the round's inserts so far.
    figures: Deltas,
    /// Dedup entries read with the last candidate query (case id → entry bytes).
    entries: HashMap<String, Option<Vec<u8>>>,
    /// Cases read with the last candidate query: the candidates and their masters (case id →
    /// record bytes).
    cases: HashMap<String, Vec<u8>>,
    /// The round's inserts for the owner's band index, added at COMMIT (`owned`); until then
    /// the round's lookups count them from here.
    pending: Vec<Pending>,
}

impl Rounds {
    /// Take the connection for dropping (the store's `Drop`).
    pub(crate) fn take_conn(&self) -> Option<Conn> {
        self.slot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .conn
            .take()
    }
}

impl Slot {
    /// The round cannot commit any more: remember why; a connection that broke is dropped.
    fn fail(&mut self, why: String) -> StoreError {
        if self.conn.as_ref().is_some_and(|c| c.client.is_closed()) {
            self.conn = None;
        }
        self.failed.get_or_insert(why.clone());
        StoreError::Storage(why)
    }

    fn check(&self) -> Result<()> {
        match &self.failed {
            Some(why) => Err(StoreError::Storage(format!(
                "this writer round failed and will not commit: {why}"
            ))),
            None => Ok(()),
        }
    }

    /// Run `f` on the round's transaction; a database error aborts the transaction, so it fails
    /// the round.
    fn run<T>(&mut self, f: impl FnOnce(&mut Session<'_, postgres::Client>) -> Tx<T>) -> Result<T> {
        self.check()?;
        let Some(conn) = self.conn.as_mut() else {
            return Err(self.fail("the round's connection is gone".into()));
        };
        let Conn { client, statements } = conn;
        match f(&mut Session {
            c: client,
            statements,
        }) {
            Ok(v) => Ok(v),
            Err(TxError::Store(e)) => Err(e),
            Err(TxError::Db(e)) => Err(self.fail(db(e).to_string())),
        }
    }

    /// A statement batch (simple protocol: one round trip) on the round's connection.
    fn batch(&mut self, sql: &str) -> Result<()> {
        self.run(|s| Ok(s.c.batch_execute(sql)?))
    }

    /// End the transaction without committing; a connection that cannot is dropped.
    fn rollback(&mut self) {
        if self
            .conn
            .as_mut()
            .is_some_and(|c| c.client.batch_execute("ROLLBACK").is_err())
        {
            self.conn = None;
        }
    }

    fn reset(&mut self) {
        self.failed = None;
        self.savepoint = false;
        self.figures.clear();
        self.entries.clear();
        self.cases.clear();
        self.pending.clear();
    }
}

impl PgStore {
    fn rounds(&self) -> &Rounds {
        &self.rounds
    }

    /// `f` on the round's state when the calling thread has a round open; None otherwise.
    fn in_round<T>(&self, f: impl FnOnce(&mut Slot) -> T) -> Option<T> {
        let me = thread_token();
        if self.rounds().owner.load(Ordering::Acquire) != me {
            return None;
        }
        // A panic while the slot was locked leaves it poisoned: its state is still consistent
        // enough to fail the round, which `check` does once `failed` is set below.
        let mut slot = self.rounds().slot.lock().unwrap_or_else(|e| {
            let mut s = e.into_inner();
            s.failed
                .get_or_insert_with(|| "a call inside the round panicked".into());
            s
        });
        Some(f(&mut slot))
    }

    /// Open a round on the calling thread (see the module docs). A round this thread left open
    /// (begun, never flushed) is rolled back first: none of its jobs was acknowledged.
    pub(crate) fn begin_round(&self) -> Result<()> {
        let me = thread_token();
        let rounds = self.rounds();
        // Claim the round for this thread (one at a time).
        match rounds
            .owner
            .compare_exchange(0, me, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => {}
            Err(t) if t == me => {
                let _ = self.in_round(|slot| slot.rollback());
            }
            Err(_) => {
                return Err(StoreError::Invalid(
                    "a writer round is open on another thread".into(),
                ));
            }
        }
        let poisoned = rounds.slot.is_poisoned();
        let mut slot = rounds.slot.lock().unwrap_or_else(|e| e.into_inner());
        if poisoned {
            // A call panicked inside the last round, maybe mid-statement: its connection is
            // not trusted again.
            slot.conn = None;
            rounds.slot.clear_poison();
        }
        slot.reset();
        let begun = (|| {
            if slot.conn.as_ref().is_none_or(|c| c.client.is_closed()) {
                slot.conn = None;
                slot.conn = Some(self.round_connection()?);
            }
            slot.batch("BEGIN ISOLATION LEVEL READ COMMITTED")
        })();
        if let Err(e) = begun {
            slot.conn = None;
            slot.reset();
            rounds.owner.store(0, Ordering::Release);
            return Err(e);
        }
        Ok(())
    }

    fn round_connection(&self) -> Result<Conn> {
        let mut config = self.config.clone();
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(self.connect_timeout);
        }
        let client = config
            .connect(postgres::NoTls)
            .map_err(|e| StoreError::Storage(format!("cannot connect to PostgreSQL: {e}")))?;
        Ok(Conn {
            client,
            statements: HashMap::new(),
        })
    }

    /// On the round's thread: COMMIT the round (Some), else None (nothing to do here).
    pub(crate) fn commit_round(&self) -> Option<Result<()>> {
        let out = self.in_round(|slot| {
            let mut sent_commit = false;
            let out = (|| {
                slot.check()?;
                if !slot.figures.is_empty() {
                    let deltas = std::mem::take(&mut slot.figures);
                    slot.run(|t| {
                        crate::figures::upsert(
                            t,
                            deltas
                                .iter()
                                .filter(|(_, n)| **n != 0)
                                .map(|(k, n)| (k, *n)),
                        )
                    })?;
                }
                sent_commit = true;
                slot.batch("COMMIT")
            })();
            if out.is_err() {
                // An aborted transaction needs its ROLLBACK before the connection is reused.
                slot.rollback();
            }
            // The owner's index gets the committed inserts; after a failed COMMIT (its outcome
            // unknown) their partitions' indexes are rebuilt; before one, nothing was stored.
            let pending = std::mem::take(&mut slot.pending);
            if out.is_ok() || sent_commit {
                self.owned_commit(pending, out.is_ok());
            }
            slot.reset();
            out
        })?;
        self.rounds().owner.store(0, Ordering::Release);
        Some(out.map_err(|e| match e {
            StoreError::Storage(why) => StoreError::Storage(format!(
                "the writer round did not commit, nothing of it is stored: {why}"
            )),
            e => e,
        }))
    }

    /// On the round's thread: the insert under a savepoint of the round's transaction.
    pub(crate) fn insert_in_round(&self, new: &NewCase) -> Option<Result<Inserted>> {
        self.in_round(|slot| {
            // The entries and cases were read for this insert's lookup; the insert changes what
            // follows.
            slot.entries.clear();
            slot.cases.clear();
            slot.batch(if slot.savepoint {
                RELEASE_AND_SAVEPOINT
            } else {
                SAVEPOINT
            })?;
            slot.savepoint = true;
            let mut attempt = 0;
            loop {
                attempt += 1;
                let Some(conn) = slot.conn.as_mut() else {
                    return Err(slot.fail("the round's connection is gone".into()));
                };
                let Conn { client, statements } = conn;
                let out = crate::insert::insert_in(
                    self,
                    &mut Session {
                        c: client,
                        statements,
                    },
                    new,
                );
                let err = match out {
                    Ok((inserted, deltas)) => {
                        add_deltas(&mut slot.figures, deltas);
                        slot.pending.extend(self.owned_pending(new, &inserted));
                        return Ok(inserted);
                    }
                    Err(e) => e,
                };
                // Undo what the insert wrote, keeping the round's other inserts; a connection
                // that cannot do that fails the round.
                slot.batch(ROLLBACK_TO)?;
                match err {
                    // Another transaction inserted this request id and committed while this
                    // one waited on it: once more, the request-id check now finds it.
                    TxError::Db(e) if crate::request_id_race(&e) && attempt < 2 => {}
                    TxError::Db(e) => return Err(db(e)),
                    TxError::Store(e) => return Err(e),
                }
            }
        })
    }

    /// On the round's thread: the case as the round sees it (a master's links read from their
    /// rows).
    pub(crate) fn get_case_in_round(&self, id: &str) -> Option<Result<Option<CaseRecord>>> {
        self.in_round(|slot| match slot.cases.get(id).cloned() {
            Some(bytes) => slot.run(|t| crate::cases::whole_from(t, id, &bytes).map(Some)),
            None => slot.run(|t| crate::cases::read_case(t, id, false)),
        })
    }

    /// On the round's thread: the case without its links as the round sees it (what a lookup
    /// reads of its candidates and their masters: from the candidate query when it returned it).
    pub(crate) fn get_case_head_in_round(&self, id: &str) -> Option<Result<Option<CaseHead>>> {
        self.in_round(|slot| match slot.cases.get(id) {
            Some(bytes) => paidan_store::links::decode_case_value(&format!("cases/{id}"), bytes)
                .map(|v| Some(v.head())),
            None => slot.run(|t| {
                Ok(crate::cases::read_value(t, id, false)?
                    .map(paidan_store::links::CaseValue::head))
            }),
        })
    }

    /// On the round's thread: the candidates as the round sees them; their entries are kept for
    /// [`PgStore::dedup_entry_in_round`].
    pub(crate) fn dedup_candidates_in_round(
        &self,
        jurisdiction: &str,
        bands: &[u64],
        since: Millis,
        until: Millis,
        limit: usize,
    ) -> Option<Result<Vec<(String, u32)>>> {
        self.in_round(|slot| {
            let q = crate::dedup::Candidates {
                jurisdiction,
                bands,
                since,
                until,
                limit,
            };
            // The owner's index, and the round's own inserts it does not have yet.
            let owned = self
                .owned_candidates(jurisdiction, bands, until)
                .map(|mut o| {
                    o.extend(slot.pending.iter().filter_map(|p| {
                        let n = p.shared(jurisdiction, bands, until);
                        (n > 0).then_some((p.case, n))
                    }));
                    o
                });
            let (found, gone) =
                slot.run(|t| crate::dedup::candidates_with_entries(t, &q, owned.as_deref(), true))?;
            self.owned_forget(jurisdiction, &gone);
            slot.entries.clear();
            slot.cases.clear();
            Ok(found
                .into_iter()
                .map(|f| {
                    slot.entries.insert(f.id.clone(), f.entry);
                    slot.cases.extend(f.cases);
                    (f.id, f.shared)
                })
                .collect())
        })
    }

    /// On the round's thread: the entry, from the last candidate query when it returned it.
    pub(crate) fn dedup_entry_in_round(&self, case_id: &str) -> Option<Result<Option<DedupEntry>>> {
        self.in_round(|slot| match slot.entries.get(case_id) {
            Some(bytes) => bytes
                .as_deref()
                .map(|b| crate::dedup::decode_entry(case_id, b))
                .transpose(),
            None => slot.run(|t| crate::dedup::read_entry(t, case_id)),
        })
    }
}
