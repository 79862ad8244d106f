//! A fresh PostgreSQL database per test, on the server `PAIDAN_TEST_PG_URL` names
//! (`scripts/pg-throwaway.sh` starts one and sets it). Shared by the tests that need PostgreSQL
//! (`#[path]`-included, as the store's fixtures are). Without the variable a test fails saying
//! so: a PostgreSQL test never passes by not running.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};

pub const URL_VAR: &str = "PAIDAN_TEST_PG_URL";

/// The URL of the test server, or a panic saying how to get one.
pub fn server_url() -> String {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "{URL_VAR} is not set: this test needs a PostgreSQL server. Run the tests through \
             scripts/pg-throwaway.sh (e.g. `scripts/pg-throwaway.sh cargo test -p paidan-store-pg`), \
             which starts a throwaway one, or set {URL_VAR} to a server where they may create \
             databases (postgres://user@host:port/database)."
        ),
    }
}

/// A database created for one test and dropped after it.
pub struct TestDb {
    /// Its URL.
    pub url: String,
    server: String,
    name: String,
}

impl TestDb {
    pub fn new(prefix: &str) -> TestDb {
        static N: AtomicU32 = AtomicU32::new(0);
        let server = server_url();
        let name = format!(
            "paidan_{prefix}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let sql = format!("CREATE DATABASE {name}");
        if let Err(e) = on_own_thread(&server, &sql) {
            panic!("cannot create database {name} on {URL_VAR}={server}: {e}");
        }
        TestDb {
            url: with_database(&server, &name),
            server,
            name,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let _ = on_own_thread(&self.server, &sql);
    }
}

/// Run `sql` on `server` from a thread of its own: the sync client blocks on a runtime of its
/// own, which panics on a thread that drives async tasks (a `#[tokio::test]`).
fn on_own_thread(server: &str, sql: &str) -> Result<(), String> {
    let (server, sql) = (server.to_string(), sql.to_string());
    std::thread::spawn(move || {
        let mut c =
            postgres::Client::connect(&server, postgres::NoTls).map_err(|e| e.to_string())?;
        c.batch_execute(&sql).map_err(|e| e.to_string())
    })
    .join()
    .unwrap_or_else(|_| Err("the connecting thread panicked".into()))
}

/// `url` with its database replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let host_start = base.find("://").map_or(0, |i| i + 3);
    let root = match base[host_start..].find('/') {
        Some(i) => &base[..host_start + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}
