//! The case store on PostgreSQL: [`PgStore`] implements [`paidan_store::Store`].
//!
//! Why PostgreSQL: the sled store serves one process; a provincial platform needs several intake
//! nodes over one shared history, in a database its operators already run, back up and replicate
//! (issue 18). PostgreSQL's transactions keep the store's invariant as sled's do: a case, its
//! indexed columns, its dedup entry and its outbox events are written in one transaction. The
//! submit writer's inserts run in its round's transaction ([`Store::begin_round`], `round`),
//! which its `flush` commits; every other write returns after its own COMMIT. So the
//! acknowledgement rule (reply only after the write is durable) holds: a submit is answered after
//! the COMMIT of its writer round (the server's `synchronous_commit`, on by default, makes COMMIT
//! durable; a synchronous standby makes it survive the primary).
//!
//! One encoding for every store: each stored value is the storage-record bytes of
//! [`paidan_store::record`] (`bytea` columns), so a new domain field rides along with no change
//! here; the typed columns (jurisdiction, status, category, department, channel, received_at,
//! duplicate_of, request_id, …) are derived from the case on every write and exist only for the
//! filters and indexes.
//!
//! | module     | concern                                                                       |
//! |------------|-------------------------------------------------------------------------------|
//! | `lib.rs`   | open (pool, migrations), the transaction helper with retries, `Store` dispatch |
//! | `migrate`  | the embedded numbered migrations (`migrations/NNNN_name.sql`)                 |
//! | `cases`    | the case row, reads, list, hot issues, corrections                            |
//! | `insert`   | insert: idempotent on the request id, fenced, linking; two statements a new case |
//! | `edit`     | `edit_cases`: a domain rule's edit, read `FOR UPDATE` and written in one transaction |
//! | `outbox`   | events, due entries (per-case heads), delivery, failures, dead letters        |
//! | `dedup`    | dedup entries, their band keys, the candidate query, the re-key of the keys   |
//! | `owned`    | the partition owner's in-memory band index: candidates without the GIN probes  |
//! | `figures`  | the figures' counters: changed in the case's transaction, built once at open, summed per window |
//! | `round`    | the submit writer's round as one transaction: savepoint per insert, COMMIT at `flush` |
//! | `session`  | pooled connections with their prepared statements (one round trip a statement) |
//! | `lease`    | jurisdiction partitions, leases with a fencing epoch, the node's [`Ownership`] |
//! | `nodes`    | the cluster's nodes: heartbeats, advertised addresses, who owns which partition |
//!
//! The trait is synchronous (callers run it on blocking threads), so the store uses the
//! synchronous `postgres` client with an r2d2 pool of connections, each keeping the statements
//! prepared on it.

use std::time::Duration;

use paidan_store::*;
use postgres::Transaction;
use session::{Conn, Manager, Session};

mod cases;
mod dedup;
mod edit;
mod figures;
mod insert;
mod lease;
mod migrate;
mod nodes;
mod outbox;
mod owned;
mod round;
mod session;

pub use lease::{Lease, Ownership, PARTITIONS, partition_of};
pub use migrate::{SCHEMA_VERSION, migration_versions};
pub use nodes::{NodeInfo, PartitionOwner};
pub use outbox::{CHANNEL as OUTBOX_CHANNEL, CLAIM_MS, OutboxListener};

type Pool = r2d2::Pool<Manager>;

/// Tuning of a [`PgStore`].
#[derive(Clone, Debug, PartialEq)]
pub struct PgOptions {
    /// Connections kept open at most (each write holds one for its transaction).
    pub pool_size: u32,
    /// How long to wait for a connection (to the server, or from a busy pool).
    pub connect_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            pool_size: 8,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// A [`Store`] on a PostgreSQL database.
pub struct PgStore {
    /// Always set; taken out only by `Drop`.
    pool: Option<Pool>,
    /// Set in a cluster: every insert is fenced by the lease of its case's partition.
    fencing: std::sync::OnceLock<std::sync::Arc<Ownership>>,
    /// The connection settings (a listener connects outside the pool).
    config: postgres::Config,
    /// For connections made outside the pool when the URL sets no timeout.
    connect_timeout: Duration,
    /// The submit writer's round: one transaction on a connection of its own (`round`).
    rounds: round::Rounds,
    /// The band index of the partitions this node holds (`owned`).
    owned: owned::Owned,
}

/// What a step inside a transaction can fail with: the database (maybe worth a retry) or the
/// store's own verdict (returned as it is).
pub(crate) enum TxError {
    Db(postgres::Error),
    Store(StoreError),
}

impl From<postgres::Error> for TxError {
    fn from(e: postgres::Error) -> Self {
        TxError::Db(e)
    }
}

impl From<StoreError> for TxError {
    fn from(e: StoreError) -> Self {
        TxError::Store(e)
    }
}

pub(crate) type Tx<T> = std::result::Result<T, TxError>;

/// A database error as a store error (with the server's message when there is one).
pub(crate) fn db(e: postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(d) => StoreError::Storage(format!("postgres: {} ({})", d.message(), d.code().code())),
        None => StoreError::Storage(format!("postgres: {e}")),
    }
}

/// Transaction attempts before a conflict is given up on.
const MAX_ATTEMPTS: u32 = 16;

/// Serialization failures and deadlocks are the server's "try again"; a unique violation on the
/// request id is a concurrent insert of the same request, which the retry answers idempotently.
fn retryable(e: &postgres::Error) -> bool {
    use postgres::error::SqlState;
    let Some(d) = e.as_db_error() else {
        return false;
    };
    let code = d.code();
    *code == SqlState::T_R_SERIALIZATION_FAILURE
        || *code == SqlState::T_R_DEADLOCK_DETECTED
        || request_id_race(e)
}

/// A unique violation on the request id: a concurrent insert of the same request committed
/// first (the request-id check, run again, answers it idempotently).
pub(crate) fn request_id_race(e: &postgres::Error) -> bool {
    e.as_db_error().is_some_and(|d| {
        *d.code() == postgres::error::SqlState::UNIQUE_VIOLATION
            && d.constraint() == Some("cases_request_id_key")
    })
}

impl PgStore {
    /// Connect to `url` (`postgres://user:password@host:port/database`) with
    /// [`PgOptions::default`] and bring the schema up to date.
    pub fn open(url: &str) -> Result<PgStore> {
        PgStore::open_with(url, &PgOptions::default())
    }

    /// Connect to `url` and apply the migrations this build has and the database lacks (under an
    /// advisory lock, so nodes starting together migrate once). A database migrated by a newer
    /// build, or whose applied migrations differ from this build's, is refused.
    pub fn open_with(url: &str, opts: &PgOptions) -> Result<PgStore> {
        let config: postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Invalid(format!("store url: {e}")))?;
        let manager = Manager {
            config: config.clone(),
        };
        let pool = r2d2::Pool::builder()
            .max_size(opts.pool_size.max(1))
            .min_idle(Some(1))
            // No round trip to test a connection at every checkout: a connection the server
            // closed is seen as broken when it comes back and replaced (the failed call errs once).
            .test_on_check_out(false)
            .connection_timeout(opts.connect_timeout)
            .build(manager)
            .map_err(|e| StoreError::Storage(format!("cannot connect to PostgreSQL: {e}")))?;
        let store = PgStore {
            pool: Some(pool),
            fencing: std::sync::OnceLock::new(),
            config,
            connect_timeout: opts.connect_timeout,
            rounds: round::Rounds::default(),
            owned: owned::Owned::default(),
        };
        migrate::migrate(&mut store.conn()?.client)?;
        figures::build_once(&store)?;
        cases::deadlines_build_once(&store)?;
        Ok(store)
    }

    /// From now on every insert of a case runs the fence of its partition's lease in its
    /// transaction (`lease::fence`): a node that does not hold the partition, or whose lease was
    /// taken over, commits nothing for it. Set once, by the server's lease keeper; without it
    /// (one node, tests) inserts are not fenced.
    pub fn fence_with(&self, ownership: std::sync::Arc<Ownership>) {
        let _ = self.fencing.set(ownership);
    }

    pub(crate) fn fencing(&self) -> Option<&Ownership> {
        self.fencing.get().map(|o| o.as_ref())
    }

    pub(crate) fn conn(&self) -> Result<r2d2::PooledConnection<Manager>> {
        self.pool
            .as_ref()
            .expect("the pool is taken only when the store is dropped")
            .get()
            .map_err(|e| StoreError::Storage(format!("no PostgreSQL connection: {e}")))
    }

    /// At open, once per database: unless the one-row table `built` has its row, run `build` and
    /// add the row, in one transaction. Nodes opening together take turns on an advisory lock
    /// named after `name` and the schema; the later ones find the row (the figures, the deadline
    /// column).
    pub(crate) fn build_once(
        &self,
        name: &str,
        built: &str,
        mut build: impl FnMut(&mut session::Txn<'_, '_>) -> Tx<()>,
    ) -> Result<()> {
        let lock = format!("{name}:");
        let (check, mark) = (
            format!("SELECT 1 FROM {built}"),
            format!("INSERT INTO {built} (one) VALUES (true)"),
        );
        self.tx(|t| {
            t.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1 || current_schema()))",
                &[&lock],
            )?;
            if t.query_opt(&check, &[])?.is_some() {
                return Ok(());
            }
            build(t)?;
            t.execute(&mark, &[])?;
            Ok(())
        })
    }

    /// Run `f` in one transaction and commit; a conflict the server asks to retry runs it again.
    pub(crate) fn tx<T>(
        &self,
        mut f: impl FnMut(&mut Session<'_, Transaction<'_>>) -> Tx<T>,
    ) -> Result<T> {
        let mut conn = self.conn()?;
        let Conn { client, statements } = &mut *conn;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut t = client.transaction().map_err(db)?;
            let out = f(&mut Session {
                c: &mut t,
                statements: &mut *statements,
            });
            let err = match out {
                Ok(v) => match t.commit() {
                    Ok(()) => return Ok(v),
                    Err(e) => TxError::Db(e),
                },
                // Dropping the transaction rolls it back.
                Err(e) => e,
            };
            match err {
                TxError::Db(e) if retryable(&e) && attempt < MAX_ATTEMPTS => {
                    tracing::debug!(attempt, error = %e, "transaction conflict, retrying");
                }
                TxError::Db(e) => return Err(db(e)),
                TxError::Store(e) => return Err(e),
            }
        }
    }
}

impl PgStore {
    /// One statement on a pooled connection, outside any transaction.
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&mut Session<'_, postgres::Client>) -> std::result::Result<T, postgres::Error>,
    ) -> Result<T> {
        self.read(|c| Ok(f(c)?))
    }

    /// Run `f` on a pooled connection, outside any transaction (reads).
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&mut Session<'_, postgres::Client>) -> Tx<T>,
    ) -> Result<T> {
        let mut conn = self.conn()?;
        let Conn { client, statements } = &mut *conn;
        f(&mut Session {
            c: client,
            statements,
        })
        .map_err(|e| match e {
            TxError::Db(e) => db(e),
            TxError::Store(e) => e,
        })
    }
}

impl Drop for PgStore {
    /// A `postgres::Client` closes by blocking on a runtime of its own, which panics on a thread
    /// that drives async tasks (the server drops its store on one): the pool, with every
    /// connection, is dropped on a thread of its own.
    fn drop(&mut self) {
        let round = self.rounds.take_conn();
        if let Some(pool) = self.pool.take() {
            let _ = std::thread::spawn(move || drop((pool, round))).join();
        }
    }
}

impl Store for PgStore {
    fn begin_round(&self) -> Result<()> {
        PgStore::begin_round(self)
    }

    fn insert_case(&self, new: NewCase) -> Result<Inserted> {
        insert::check_new(&new)?;
        match self.insert_in_round(&new) {
            Some(done) => done,
            None => insert::insert_case(self, new),
        }
    }

    fn get_case(&self, id: &str) -> Result<Option<CaseRecord>> {
        match self.get_case_in_round(id) {
            Some(done) => done,
            None => cases::get_case(self, id),
        }
    }

    fn get_case_head(&self, id: &str) -> Result<Option<CaseHead>> {
        match self.get_case_head_in_round(id) {
            Some(done) => done,
            None => cases::get_case_head(self, id),
        }
    }

    fn dedup_candidates(
        &self,
        jurisdiction: &str,
        bands: &[u64],
        since: Millis,
        until: Millis,
        limit: usize,
    ) -> Result<Vec<(String, u32)>> {
        match self.dedup_candidates_in_round(jurisdiction, bands, since, until, limit) {
            Some(done) => done,
            None => dedup::dedup_candidates(self, jurisdiction, bands, since, until, limit),
        }
    }

    fn dedup_entry(&self, case_id: &str) -> Result<Option<DedupEntry>> {
        match self.dedup_entry_in_round(case_id) {
            Some(done) => done,
            None => dedup::dedup_entry(self, case_id),
        }
    }

    fn dedup_key_version(&self) -> Result<u32> {
        dedup::dedup_key_version(self)
    }

    fn rekey_dedup(
        &self,
        version: u32,
        rekey: &(dyn Fn(&DedupEntry) -> Option<DedupEntry> + Sync),
    ) -> Result<u64> {
        dedup::rekey_dedup(self, version, rekey)
    }

    fn list_cases(
        &self,
        filter: &CaseFilter,
        page_size: usize,
        page_token: Option<&str>,
    ) -> Result<Page> {
        cases::list_cases(self, filter, page_size, page_token)
    }

    fn for_each_deadline_pending(
        &self,
        until: Millis,
        f: &mut dyn FnMut(CaseRecord),
    ) -> Result<()> {
        cases::for_each_deadline_pending(self, until, f)
    }

    fn edit_cases(
        &self,
        rule: &dyn Fn(&mut dyn CaseReader) -> Result<CaseEdit>,
    ) -> Result<Vec<CaseRecord>> {
        edit::edit_cases(self, rule)
    }

    fn hot_issues(
        &self,
        jurisdiction: Option<&str>,
        category: Option<&str>,
        since: Millis,
        until: Millis,
        limit: usize,
    ) -> Result<Vec<HotIssue>> {
        cases::hot_issues(self, jurisdiction, category, since, until, limit)
    }

    fn figures(
        &self,
        q: &paidan_store::figures::FigureQuery,
    ) -> Result<Vec<paidan_store::figures::FigureSum>> {
        figures::figures(self, q)
    }

    fn corrections(&self) -> Result<Vec<CorrectionRecord>> {
        cases::corrections(self)
    }

    fn outbox_due(&self, now: Millis, limit: usize) -> Result<Vec<OutboxEntry>> {
        outbox::outbox_due(self, now, limit)
    }

    fn outbox_delivered(
        &self,
        seq: u64,
        sink: &str,
        all_sinks: &[String],
        at: Millis,
    ) -> Result<bool> {
        outbox::outbox_delivered(self, seq, sink, all_sinks, at)
    }

    fn outbox_failed(
        &self,
        seq: u64,
        error: &str,
        next_attempt_at: Millis,
        dead: bool,
    ) -> Result<()> {
        outbox::outbox_failed(self, seq, error, next_attempt_at, dead)
    }

    fn outbox_list(&self, dead: bool, limit: usize) -> Result<Vec<OutboxEntry>> {
        outbox::outbox_list(self, dead, limit)
    }

    fn outbox_len(&self, dead: bool) -> Result<u64> {
        outbox::outbox_len(self, dead)
    }

    fn outbox_retry_dead(&self, keys: &[String], now: Millis) -> Result<u32> {
        outbox::outbox_retry_dead(self, keys, now)
    }

    fn outbox_drop_dead(&self, keys: &[String]) -> Result<u32> {
        outbox::outbox_drop_dead(self, keys)
    }

    fn append_audit(&self, event: &AuditEvent) -> Result<()> {
        self.read(|s| {
            s.execute(
                "INSERT INTO audit (record) VALUES ($1)",
                &[&record::encode_audit_event(event)],
            )?;
            Ok(())
        })
    }

    fn audit_log(&self, limit: usize) -> Result<Vec<AuditEvent>> {
        let rows = self.read(|s| {
            Ok(s.query(
                "SELECT id, record FROM audit ORDER BY id DESC LIMIT $1",
                &[&(limit.min(i64::MAX as usize) as i64)],
            )?)
        })?;
        rows.iter()
            .map(|r| {
                let id: i64 = r.get(0);
                record::decode_audit_event(&format!("audit/{id}"), r.get(1))
            })
            .collect()
    }

    /// On a thread with a writer round open: COMMIT it (see `round`). Elsewhere every write
    /// has committed before it returned: nothing is left to flush.
    fn flush(&self) -> Result<()> {
        self.commit_round().unwrap_or(Ok(()))
    }
}
