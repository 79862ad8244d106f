//! The figures' counters on PostgreSQL (what is counted: [`paidan_store::figures`]): the
//! `figures` table (migration 0003), changed by [`apply`] in the transaction that writes the case
//! — one `INSERT … ON CONFLICT DO UPDATE SET n = n + …` over the change's deltas, sorted by key so
//! two writers touch shared counters in one order —, built once from the cases for a database
//! that held cases before the table existed ([`build_once`], at open), and summed per window by
//! one grouped query ([`figures`]).
//!
//! A counter row is shared by every case of its hour, department and jurisdiction: concurrent
//! writes of such cases wait on its row lock until the first commits (the price of reading
//! figures without scanning cases).

use std::collections::BTreeMap;

use paidan_store::figures::{self, Counter, Dim, FigureKey, FigureQuery, FigureSum};
use paidan_store::{CaseRecord, Result, StoreError};

use crate::session::Txn;
use crate::{PgStore, Tx};

const UPSERT: &str = "INSERT INTO figures (bucket, counter, dim, jurisdiction, name, n)
     SELECT * FROM unnest($1::bigint[], $2::smallint[], $3::smallint[], $4::text[], $5::text[],
                          $6::bigint[])
     ON CONFLICT (bucket, counter, dim, jurisdiction, name) DO UPDATE SET n = figures.n + EXCLUDED.n";

pub(crate) fn upsert<'a, C: postgres::GenericClient>(
    t: &mut crate::session::Session<'_, C>,
    deltas: impl IntoIterator<Item = (&'a FigureKey, i64)>,
) -> Tx<()> {
    let (mut b, mut c, mut d, mut j, mut name, mut n) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    for (k, delta) in deltas {
        b.push(k.bucket);
        c.push(k.counter as i16);
        d.push(k.dim as i16);
        j.push(k.jurisdiction.as_str());
        name.push(k.name.as_str());
        n.push(delta);
    }
    if !b.is_empty() {
        t.execute(UPSERT, &[&b, &c, &d, &j, &name, &n])?;
    }
    Ok(())
}

/// Inside the case's transaction: change the counters by what writing `new` over `old` changes.
pub(crate) fn apply(t: &mut Txn<'_, '_>, old: Option<&CaseRecord>, new: &CaseRecord) -> Tx<()> {
    let deltas = figures::deltas(old, new);
    upsert(t, deltas.iter().map(|(k, n)| (k, *n)))
}

/// At open: unless `figures_built` has its row, count every stored case into an empty `figures`
/// table and add the row, in one transaction. Nodes opening together take turns (an advisory
/// lock; the later ones find the row). The table is locked against writers while it is built, so
/// a case written meanwhile is counted either by the build (committed before it) or by its own
/// transaction (waiting for the build, then adding to it), never twice.
pub(crate) fn build_once(s: &PgStore) -> Result<()> {
    s.build_once("paidan_figures", "figures_built", |t| {
        let started = std::time::Instant::now();
        t.execute("LOCK TABLE figures IN EXCLUSIVE MODE", &[])?;
        t.execute("DELETE FROM figures", &[])?;
        let mut totals = BTreeMap::new();
        let rows = t.query("SELECT id, record FROM cases", &[])?;
        for row in &rows {
            let id: &str = row.get(0);
            // What a case counts for is in its record: the links are not needed.
            let c = paidan_store::links::decode_case_value(&format!("cases/{id}"), row.get(1))?.rec;
            figures::add_case(&mut totals, &c);
        }
        let all: Vec<_> = totals.iter().map(|(k, n)| (k, *n)).collect();
        for chunk in all.chunks(10_000) {
            upsert(t, chunk.iter().copied())?;
        }
        tracing::info!(
            cases = rows.len(),
            counters = totals.len(),
            ms = started.elapsed().as_millis() as u64,
            "figures built from the stored cases"
        );
        Ok(())
    })
}

/// The counters in the query's buckets, summed.
pub(crate) fn figures(s: &PgStore, q: &FigureQuery) -> Result<Vec<FigureSum>> {
    let (since, until) = q.buckets();
    let due_until = q.due_until();
    let rows = s.with(|c| {
        c.query(
            "SELECT dim, name, counter, sum(n)::bigint FROM figures
             WHERE bucket >= $1::bigint
               AND bucket < CASE WHEN counter = $4::smallint THEN $3::bigint ELSE $2::bigint END
               AND ($5::text IS NULL OR jurisdiction = $5)
             GROUP BY dim, name, counter
             HAVING sum(n) <> 0
             ORDER BY dim, name, counter",
            &[
                &since,
                &until,
                &due_until,
                &(Counter::OpenByDue as i16),
                &q.jurisdiction,
            ],
        )
    })?;
    rows.iter()
        .map(|r| {
            let bad = |what: &str| StoreError::Corrupt {
                key: "figures".into(),
                reason: format!("unknown {what}"),
            };
            Ok(FigureSum {
                dim: Dim::from_code(r.get(0)).ok_or_else(|| bad("dim"))?,
                name: r.get(1),
                counter: Counter::from_code(r.get(2)).ok_or_else(|| bad("counter"))?,
                n: r.get(3),
            })
        })
        .collect()
}
