//! The Python grpcio client generated from proto/ talks to a real server. `.ci/run` installs
//! clients/python/requirements.txt first; without grpcio this test fails and says so.
//!
//! Every test gives the client its own `XDG_CACHE_HOME` (a tempdir), so the generated stubs never
//! come from, or go to, the user's ~/.cache.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn python_command(cache: &Path, args: &[&str]) -> Command {
    let script = common::repo_root().join("clients/python/paidan_client.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script).args(args).env("XDG_CACHE_HOME", cache);
    cmd
}

fn result(out: Output) -> (bool, String, String) {
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn python(cache: &Path, args: &[&str]) -> (bool, String, String) {
    result(python_command(cache, args).output().expect("python3 runs"))
}

/// The `pystubs-*` directories (and anything else) in `<cache>/paidan`.
fn cache_entries(cache: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(cache.join("paidan"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_grpcio_client_triages_submits_and_reads() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _, _) = common::serving(dir.path()).await;
    let addr = server.addr.to_string();
    let cache = tempfile::tempdir().unwrap();
    tokio::task::spawn_blocking(move || {
        let addr = addr.as_str();
        let python = |args: &[&str]| python(cache.path(), args);
        let (ok, out, err) = python(&[
            "--addr",
            addr,
            "triage",
            "工地夜间施工噪音扰民，凌晨还在打桩",
        ]);
        assert!(
            ok,
            "python client failed (pip install -r clients/python/requirements.txt?): {err}"
        );
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["category"]["code"], "noise_construction", "{out}");

        let (ok, out, err) = python(&[
            "--addr",
            addr,
            "submit",
            "--request-id",
            "py-1",
            "--phone",
            "13912345678",
            "小区门口流动摊贩占道经营",
        ]);
        assert!(ok, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let case_id = v["caseId"].as_str().expect("caseId").to_owned();

        let (ok, out, err) = python(&["--addr", addr, "get", &case_id]);
        assert!(ok, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["requestId"], "py-1");
        assert_eq!(v["callerPhone"], "139****5678");

        let (ok, out, _) = python(&["--addr", addr, "get", "PD999999999999"]);
        assert!(!ok);
        assert!(out.contains("NOT_FOUND"), "{out}");
    })
    .await
    .unwrap();
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_sends_its_bearer_token() {
    use paidan::access::{AccessConfig, Role, TokenConfig};
    use sha2::{Digest, Sha256};
    let token = |name: &str, secret: &str, role: Role| TokenConfig {
        name: name.into(),
        sha256: hex::encode(Sha256::digest(secret.as_bytes())),
        roles: vec![role],
        rate_per_sec: None,
        burst: None,
    };
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::serve_config(&dir.path().join("data"), &common::default_model());
    cfg.access = AccessConfig {
        tokens: vec![
            token("py-intake", "py-secret-intake", Role::Intake),
            token("py-platform", "py-secret-platform", Role::Platform),
        ],
        ..AccessConfig::default()
    };
    let server = paidan::server::start(cfg, false).await.unwrap();
    let ch = common::channel(server.addr).await;
    common::wait_health(
        &ch,
        "paidan.v1.Intake",
        tonic_health::pb::health_check_response::ServingStatus::Serving,
    )
    .await;
    let addr = server.addr.to_string();
    let cache = tempfile::tempdir().unwrap();
    tokio::task::spawn_blocking(move || {
        let addr = addr.as_str();
        let python = |args: &[&str]| python(cache.path(), args);
        let text = "小区门口流动摊贩占道经营";
        let (ok, out, err) = python(&["--addr", addr, "triage", text]);
        assert!(!ok, "{err}");
        assert!(out.contains("UNAUTHENTICATED"), "{out}");

        let with = |secret: &'static str, args: &[&str]| {
            let mut all = vec!["--addr", addr, "--token", secret];
            all.extend_from_slice(args);
            python(&all)
        };
        let (ok, out, err) = with(
            "py-secret-intake",
            &[
                "submit",
                "--request-id",
                "py-auth-1",
                "--phone",
                "13912345678",
                text,
            ],
        );
        assert!(ok, "{out} {err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let case_id = v["caseId"].as_str().expect("caseId").to_owned();

        let (ok, out, _) = with("py-secret-intake", &["get", &case_id]);
        assert!(!ok);
        assert!(out.contains("PERMISSION_DENIED"), "{out}");

        let (ok, out, err) = with("py-secret-platform", &["get", &case_id]);
        assert!(ok, "{out} {err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            v["callerPhone"], "13912345678",
            "the platform sees the number"
        );
    })
    .await
    .unwrap();
    server.stop().await.unwrap();
}

/// Issue #20: clients starting together used to regenerate the stubs into one shared directory
/// while others imported from it (`module 'paidan.v1.intake_pb2_grpc' has no attribute
/// 'IntakeStub'`). Eight clients with one fresh, empty cache start at once, so they race on
/// generating it: every one must succeed, and exactly one complete stubs directory is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_clients_starting_together_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _, _) = common::serving(dir.path()).await;
    let addr = server.addr.to_string();
    let cache = tempfile::tempdir().unwrap();
    tokio::task::spawn_blocking(move || {
        let children: Vec<_> = (0..8)
            .map(|_| {
                python_command(
                    cache.path(),
                    &[
                        "--addr",
                        &addr,
                        "triage",
                        "工地夜间施工噪音扰民，凌晨还在打桩",
                    ],
                )
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("python3 starts")
            })
            .collect();
        for (i, child) in children.into_iter().enumerate() {
            let (ok, out, err) = result(child.wait_with_output().unwrap());
            assert!(ok, "client {i} of 8 failed: {out} {err}");
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(
                v["category"]["code"], "noise_construction",
                "client {i}: {out}"
            );
        }
        let entries = cache_entries(cache.path());
        assert_eq!(
            entries.len(),
            1,
            "one stubs directory, no leftovers: {entries:?}"
        );
        let name = entries[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(name.starts_with("pystubs-"), "{name}");
        assert!(entries[0].join(".complete").is_file());
    })
    .await
    .unwrap();
    server.stop().await.unwrap();
}

/// The stubs cache is private (0700, ours), and a stubs directory someone else could have written
/// to is refused, naming the path, before anything in it is imported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_stubs_cache_is_private_and_refuses_writable_dirs() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _, _) = common::serving(dir.path()).await;
    let addr = server.addr.to_string();
    let cache = tempfile::tempdir().unwrap();
    tokio::task::spawn_blocking(move || {
        let addr = addr.as_str();
        let uid = std::fs::metadata(cache.path()).unwrap().uid(); // ours: we just created it
        let triage = |cache: &Path| python(cache, &["--addr", addr, "triage", "噪音扰民"]);

        let (ok, out, err) = triage(cache.path());
        assert!(ok, "{out} {err}");
        let root = cache.path().join("paidan");
        let entries = cache_entries(cache.path());
        assert_eq!(entries.len(), 1, "{entries:?}");
        let stubs = entries[0].clone();
        for p in [&root, &stubs] {
            let m = std::fs::metadata(p).unwrap();
            assert!(m.is_dir(), "{}", p.display());
            assert_eq!(m.mode() & 0o777, 0o700, "{}", p.display());
            assert_eq!(m.uid(), uid, "{}", p.display());
        }
        // Reused as it is on the next start.
        let (ok, out, err) = triage(cache.path());
        assert!(ok, "{out} {err}");
        assert_eq!(cache_entries(cache.path()), vec![stubs.clone()]);

        let refused = |cache: &Path, path: &Path, why: &str| {
            let (ok, out, err) = triage(cache);
            assert!(!ok, "a client using {} must fail: {out}", path.display());
            assert!(out.is_empty(), "nothing sent: {out}");
            let want = format!("refusing to use {}", path.display());
            assert!(err.contains(&want), "names {}: {err}", path.display());
            assert!(err.contains(why), "says {why:?}: {err}");
        };

        // The generated directory made group/other-writable.
        set_mode(&stubs, 0o777);
        refused(cache.path(), &stubs, "writable by group or others");
        set_mode(&stubs, 0o700);
        // A directory deeper in the tree.
        let v1 = stubs.join("paidan/v1");
        set_mode(&v1, 0o770);
        refused(cache.path(), &stubs, "writable by group or others");
        set_mode(&v1, 0o700);
        // The cache directory itself.
        set_mode(&root, 0o730);
        refused(cache.path(), &root, "writable by group or others");
        set_mode(&root, 0o700);
        // Owned by someone else (only root can give a file away).
        if uid == 0 {
            std::os::unix::fs::chown(&stubs, Some(65534), None).unwrap();
            refused(cache.path(), &stubs, "owned by uid 65534");
            std::os::unix::fs::chown(&stubs, Some(0), None).unwrap();
        }
        let (ok, out, err) = triage(cache.path());
        assert!(ok, "fine again once private: {out} {err}");

        // A stubs directory planted before the first start, world-writable and complete-looking:
        // refused, and its module never runs.
        let planted_cache = tempfile::tempdir().unwrap();
        let planted = planted_cache
            .path()
            .join("paidan")
            .join(stubs.file_name().unwrap());
        let ran = planted_cache.path().join("planted-module-ran");
        std::fs::create_dir_all(planted.join("paidan/v1")).unwrap();
        set_mode(&planted_cache.path().join("paidan"), 0o700);
        std::fs::write(planted.join(".complete"), "").unwrap();
        std::fs::write(
            planted.join("paidan/v1/intake_pb2.py"),
            format!("open({:?}, 'w').close()\n", ran.display().to_string()),
        )
        .unwrap();
        set_mode(&planted, 0o777);
        refused(
            planted_cache.path(),
            &planted,
            "writable by group or others",
        );
        assert!(!ran.exists(), "the planted module ran");
    })
    .await
    .unwrap();
    server.stop().await.unwrap();
}

/// The README's dispatch loop is `clients/python/examples/dispatch_loop.py`: run against a real
/// server it submits, reads the lead, co-departments and deadline, returns the case, resolves it,
/// rates it and reads the figures; and the README still shows the script's loop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_dispatch_loop_runs_from_python() {
    let script = common::repo_root().join("clients/python/examples/dispatch_loop.py");
    let text = std::fs::read_to_string(&script).unwrap();
    let marker = "    # --- loop ---\n";
    let loop_ = text
        .split(marker)
        .nth(1)
        .expect("the script has its loop markers");
    let dedented: String = loop_
        .lines()
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    let readme = std::fs::read_to_string(common::repo_root().join("README.md")).unwrap();
    assert!(
        readme.contains(&format!("```python\n{}\n```", dedented.trim_end())),
        "README.md no longer shows the loop of {}",
        script.display()
    );

    let dir = tempfile::tempdir().unwrap();
    let (server, _, _) = common::serving(dir.path()).await;
    let addr = server.addr.to_string();
    let cache = tempfile::tempdir().unwrap();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(&script)
            .args(["--addr", &addr])
            .env("XDG_CACHE_HOME", cache.path())
            .output()
            .expect("python3 runs")
    })
    .await
    .unwrap();
    let (ok, out, err) = result(out);
    assert!(ok, "{out} {err}");
    let steps: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let step = |name: &str| {
        steps
            .iter()
            .filter(|s| s["step"] == name)
            .cloned()
            .collect::<Vec<_>>()
    };
    let submitted = &step("submitted")[0];
    let first = submitted["lead"].as_str().unwrap();
    assert!(
        submitted["due_at"].as_str().unwrap().starts_with("20"),
        "{out}"
    );
    let returned = &step("returned")[0];
    let lead = returned["lead"].as_str().unwrap();
    assert_ne!(lead, first, "re-dispatched");
    assert_eq!(returned["returned_by"], serde_json::json!([first]));
    assert_eq!(step("rated")[0]["status"], "CASE_STATUS_FOLLOWED_UP");
    let figures = step("figures");
    let row = |d: &str| {
        figures
            .iter()
            .find(|f| f["department"] == d)
            .unwrap_or_else(|| panic!("no figures for {d}: {out}"))
    };
    assert_eq!(
        (
            &row(lead)["received"],
            &row(lead)["resolved"],
            &row(lead)["on_time"],
            &row(lead)["satisfaction"]
        ),
        (
            &serde_json::json!(1),
            &serde_json::json!(1),
            &serde_json::json!(1),
            &serde_json::json!(1.0)
        ),
        "{out}"
    );
    assert_eq!(row(first)["returned"], 1, "{out}");
    // the same figures from the client's `stats` command
    let addr = server.addr.to_string();
    let cache = tempfile::tempdir().unwrap();
    let (ok, out, err) = tokio::task::spawn_blocking(move || {
        python(
            cache.path(),
            &[
                "--addr",
                &addr,
                "stats",
                "--jurisdiction",
                "A3区",
                "--since",
                "2026-01-01T00:00:00+08:00",
            ],
        )
    })
    .await
    .unwrap();
    assert!(ok, "{out} {err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let kept = v["departments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["department"] == lead)
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(
        (&kept["resolvedOnTime"], &kept["satisfactionRate"]),
        (&serde_json::json!("1"), &serde_json::json!(1.0)),
        "{out}"
    );
    server.stop().await.unwrap();
}
