//! The Open311 GeoReport v2 facade over a real server (gRPC and Open311 on 127.0.0.1:0, the
//! shipped model) driven by a plain HTTP client as the specification describes it: discovery,
//! filing without and with a service_code, reading by id and with filters, the round trip through
//! UpdateCaseStatus over gRPC, the error table, retries and phone numbers by role.

mod common;

use std::collections::BTreeSet;

use common::{channel, default_model, serve_config, wait_health};
use paidan::access::{AccessConfig, Role, TokenConfig};
use paidan::server::ServerHandle;
use paidan_model::Taxonomy;
use paidan_proto::v1;
use paidan_proto::v1::intake_client::IntakeClient;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tonic::Request;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;

const INTAKE: &str = "o311-intake-3b9e";
const INTAKE_B: &str = "o311-intake-b-77c1";
const PLATFORM: &str = "o311-platform-a41d";
const ANALYST: &str = "o311-analyst-0f5c";
const ADMIN: &str = "o311-admin-d2e8";

fn token(name: &str, secret: &str, roles: &[Role]) -> TokenConfig {
    TokenConfig {
        name: name.into(),
        sha256: hex::encode(Sha256::digest(secret.as_bytes())),
        roles: roles.to_vec(),
        rate_per_sec: None,
        burst: None,
    }
}

/// A SERVING server with the Open311 facade; tokens when `authenticated`.
async fn start(dir: &std::path::Path, authenticated: bool) -> (ServerHandle, Channel, String) {
    let mut cfg = serve_config(&dir.join("data"), &default_model());
    cfg.open311_addr = Some("127.0.0.1:0".parse().unwrap());
    if authenticated {
        cfg.access = AccessConfig {
            tokens: vec![
                token("hotline-a", INTAKE, &[Role::Intake]),
                token("hotline-b", INTAKE_B, &[Role::Intake]),
                token("platform-12345", PLATFORM, &[Role::Platform]),
                token("analysts", ANALYST, &[Role::Analyst]),
                token("ops", ADMIN, &[Role::Admin]),
            ],
            ..AccessConfig::default()
        };
    }
    let handle = paidan::server::start(cfg, false)
        .await
        .expect("server starts");
    let ch = channel(handle.addr).await;
    wait_health(&ch, "paidan.v1.Intake", ServingStatus::Serving).await;
    let base = format!(
        "http://{}/open311/v2",
        handle.open311_addr.expect("Open311 is configured")
    );
    (handle, ch, base)
}

/// One HTTP call: GET parameters go in the query, POST ones in a form body, as the spec says.
async fn call(
    http: &reqwest::Client,
    method: Method,
    url: &str,
    params: &[(&str, &str)],
) -> (StatusCode, Value) {
    let req = http.request(method.clone(), url);
    let req = if method == Method::POST {
        req.form(params)
    } else {
        req.query(params)
    };
    let res = req.send().await.expect("the facade answers");
    let status = res.status();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = res.text().await.unwrap();
    assert!(
        ct.starts_with("application/json"),
        "{method} {url}: content-type {ct:?}, body {body}"
    );
    let value = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("{method} {url}: not JSON ({e}): {body}"));
    (status, value)
}

/// POST requests.json; the new request's id.
async fn post(http: &reqwest::Client, base: &str, params: &[(&str, &str)]) -> (String, Value) {
    let (status, body) = call(http, Method::POST, &format!("{base}/requests.json"), params).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let created = &body.as_array().expect("an array")[..];
    assert_eq!(created.len(), 1, "{body}");
    let id = created[0]["service_request_id"]
        .as_str()
        .expect("an id")
        .to_owned();
    assert!(created[0]["service_notice"].is_string(), "{body}");
    assert!(created[0]["account_id"].is_null(), "{body}");
    (id, created[0].clone())
}

/// GET requests/{id}.json as `key`: the one request.
async fn get_one(http: &reqwest::Client, base: &str, id: &str, key: &str) -> Value {
    let (status, body) = call(
        http,
        Method::GET,
        &format!("{base}/requests/{id}.json"),
        &[("api_key", key)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let list = body.as_array().expect("an array");
    assert_eq!(list.len(), 1, "{body}");
    list[0].clone()
}

/// GET requests.json as `key` with `params`: the ids answered.
async fn ids(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    params: &[(&str, &str)],
) -> Vec<String> {
    let mut all = vec![("api_key", key)];
    all.extend_from_slice(params);
    let (status, body) = call(http, Method::GET, &format!("{base}/requests.json"), &all).await;
    assert_eq!(status, StatusCode::OK, "{params:?}: {body}");
    body.as_array()
        .expect("an array")
        .iter()
        .map(|r| r["service_request_id"].as_str().unwrap().to_owned())
        .collect()
}

fn authed<T>(msg: T, secret: &str) -> Request<T> {
    let mut req = Request::new(msg);
    req.metadata_mut()
        .insert("authorization", format!("Bearer {secret}").parse().unwrap());
    req
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_filing_reading_and_the_round_trip_through_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let (handle, ch, base) = start(dir.path(), true).await;
    let http = reqwest::Client::new();
    let mut grpc = IntakeClient::new(ch.clone());

    // Discovery: one service per category of the serving taxonomy, no token needed.
    let taxonomy = Taxonomy::load(&default_model().join("taxonomy.toml")).unwrap();
    let (status, services) = call(&http, Method::GET, &format!("{base}/services.json"), &[]).await;
    assert_eq!(status, StatusCode::OK, "{services}");
    let services = services.as_array().expect("an array");
    assert_eq!(services.len(), taxonomy.categories().len());
    for (s, c) in services.iter().zip(taxonomy.categories()) {
        assert_eq!(s["service_code"], c.code.as_str());
        assert_eq!(s["service_name"], c.name.as_str());
        assert_eq!(s["description"], c.description.as_str());
        assert_eq!(s["metadata"], false);
        assert_eq!(s["type"], "realtime");
        assert_eq!(s["keywords"], c.phrases.join(",").as_str());
        assert_eq!(
            s["group"].as_str(),
            taxonomy.department_name(&c.default_department),
            "{s}"
        );
    }
    let (status, definition) = call(
        &http,
        Method::GET,
        &format!("{base}/services/cooking_fumes.json"),
        &[("jurisdiction_id", "A3区")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        definition,
        json!({"service_code": "cooking_fumes", "attributes": []})
    );

    // Filing without a service_code: triage chooses it; the case is the one gRPC sees.
    let text = "小区楼下烧烤店油烟太大，熏得窗户都不敢开，请回电13912345678";
    let (id, created) = post(
        &http,
        &base,
        &[
            ("api_key", INTAKE),
            ("jurisdiction_id", "B7区"),
            ("lat", "28.2282"),
            ("long", "112.9388"),
            ("address_string", "幸福路12号"),
            ("description", text),
            ("first_name", "三"),
            ("last_name", "张"),
            ("phone", "13812345678"),
            ("email", "zhang@example.com"),
            ("media_url", "https://example.com/p/1.jpg"),
        ],
    )
    .await;
    let case = grpc
        .get_case(authed(
            v1::GetCaseRequest {
                case_id: id.clone(),
            },
            PLATFORM,
        ))
        .await
        .expect("the Open311 request is a case over gRPC")
        .into_inner();
    assert_eq!(case.text, text);
    assert_eq!(case.channel, v1::Channel::Web as i32);
    assert_eq!(case.jurisdiction, "B7区");
    assert_eq!(case.address, "幸福路12号");
    assert_eq!(case.caller_phone, "13812345678");
    assert_eq!(case.title, "", "no service_code, no title");
    let loc = case.location.expect("lat/long stored");
    assert_eq!((loc.latitude, loc.longitude), (28.2282, 112.9388));
    let triage = case.triage.as_ref().unwrap();
    let chosen = triage.category.as_ref().unwrap().code.clone();
    assert_eq!(case.category, chosen);
    assert!(
        case.request_id.starts_with("open311-"),
        "{}",
        case.request_id
    );
    let department = taxonomy.department_name(&case.department).unwrap();
    if triage.needs_review {
        assert!(
            created["service_notice"]
                .as_str()
                .unwrap()
                .contains("a person checks")
        );
    } else {
        assert_eq!(
            created["service_notice"],
            format!("received for {department}").as_str()
        );
    }

    // Read back by id: the triage-chosen service, open, as filed.
    let got = get_one(&http, &base, &id, PLATFORM).await;
    assert_eq!(got["service_request_id"], id.as_str());
    assert_eq!(got["service_code"], chosen.as_str());
    assert_eq!(
        got["service_name"],
        taxonomy.category_name(&chosen).unwrap()
    );
    assert_eq!(got["agency_responsible"], department);
    assert_eq!(got["status"], "open");
    assert!(got["status_notes"].is_null(), "{got}");
    assert_eq!(got["description"], text, "the platform sees phone numbers");
    assert_eq!(got["address"], "幸福路12号");
    assert_eq!(
        (got["lat"].as_f64(), got["long"].as_f64()),
        (Some(28.2282), Some(112.9388))
    );
    let requested = got["requested_datetime"].as_str().unwrap();
    assert!(
        requested.len() == 20 && requested.ends_with('Z') && &requested[10..11] == "T",
        "w3 date-time: {requested}"
    );
    let received = case.received_at.unwrap().seconds;
    let parsed =
        time::OffsetDateTime::parse(requested, &time::format_description::well_known::Rfc3339)
            .unwrap();
    assert_eq!(parsed.unix_timestamp(), received);
    // the due date of the dispatch catalogue, as gRPC shows it
    let expected = got["expected_datetime"].as_str().expect("a due date");
    let expected =
        time::OffsetDateTime::parse(expected, &time::format_description::well_known::Rfc3339)
            .unwrap();
    assert_eq!(expected.unix_timestamp(), case.due_at.unwrap().seconds);
    assert!(expected.unix_timestamp() > received);

    // Filing with a service_code: it must be a service; its name is the complaint's title.
    let (coded, _) = post(
        &http,
        &base,
        &[
            ("api_key", INTAKE),
            ("service_code", "noise_construction"),
            ("jurisdiction_id", "C2区"),
            ("address_string", "建设路工地"),
            ("description", "工地晚上十一点还在打桩施工，吵得睡不着"),
        ],
    )
    .await;
    let coded_case = grpc
        .get_case(authed(
            v1::GetCaseRequest {
                case_id: coded.clone(),
            },
            PLATFORM,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        coded_case.title,
        taxonomy.category_name("noise_construction").unwrap()
    );
    let coded_got = get_one(&http, &base, &coded, ANALYST).await;
    assert_eq!(coded_got["service_code"], coded_case.category.as_str());
    assert!(coded_got["lat"].is_null() && coded_got["long"].is_null());

    // Filters.
    let all = ids(&http, &base, ANALYST, &[]).await;
    assert_eq!(
        all.iter().collect::<BTreeSet<_>>(),
        [&id, &coded].into_iter().collect::<BTreeSet<_>>(),
        "the last 90 days by default, newest first"
    );
    assert_eq!(all[0], coded, "newest first");
    assert_eq!(
        ids(&http, &base, ANALYST, &[("service_code", chosen.as_str())]).await,
        {
            let mut want = vec![id.clone()];
            if coded_case.category == chosen {
                want.insert(0, coded.clone());
            }
            want
        }
    );
    assert_eq!(
        ids(&http, &base, PLATFORM, &[("jurisdiction_id", "C2区")]).await,
        vec![coded.clone()]
    );
    assert_eq!(
        ids(&http, &base, PLATFORM, &[("status", "closed")]).await,
        Vec::<String>::new()
    );
    assert_eq!(
        ids(&http, &base, PLATFORM, &[("status", "open")])
            .await
            .len(),
        2
    );
    let listed = format!("{id},PD-no-such-case,{coded}");
    assert_eq!(
        ids(
            &http,
            &base,
            PLATFORM,
            &[("service_request_id", &listed), ("status", "closed")]
        )
        .await,
        vec![id.clone(), coded.clone()],
        "ids override the other filters; unknown ones are left out"
    );
    assert_eq!(
        ids(
            &http,
            &base,
            PLATFORM,
            &[
                ("start_date", "2000-01-01T00:00:00Z"),
                ("end_date", "2000-03-01T00:00:00+08:00")
            ]
        )
        .await,
        Vec::<String>::new()
    );

    // The round trip: the platform resolves the case over gRPC; Open311 shows it closed with the
    // note, and `status=closed` finds it.
    let note = "已协调商户安装油烟净化器，现场复查达标";
    for (to, note) in [
        (v1::CaseStatus::Dispatched, "派至属地"),
        (v1::CaseStatus::Resolved, note),
    ] {
        grpc.update_case_status(authed(
            v1::UpdateCaseStatusRequest {
                case_id: id.clone(),
                status: to as i32,
                note: note.into(),
                actor: "张科长".into(),
            },
            PLATFORM,
        ))
        .await
        .expect("status update");
    }
    let closed = get_one(&http, &base, &id, PLATFORM).await;
    assert_eq!(closed["status"], "closed");
    assert_eq!(closed["status_notes"], note);
    assert!(
        closed["updated_datetime"].as_str().unwrap()
            >= closed["requested_datetime"].as_str().unwrap()
    );
    assert_eq!(
        ids(&http, &base, PLATFORM, &[("status", "closed")]).await,
        vec![id.clone()]
    );
    assert_eq!(
        ids(&http, &base, PLATFORM, &[("status", "open")]).await,
        vec![coded.clone()]
    );
    assert_eq!(
        ids(&http, &base, PLATFORM, &[("status", "open,closed")])
            .await
            .len(),
        2
    );

    // Phone numbers: analysts read them masked, as over gRPC; the caller's own number is not
    // part of an Open311 request at all.
    let (status, masked) = call(
        &http,
        Method::GET,
        &format!("{base}/requests/{id}.json"),
        &[("api_key", ANALYST)],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let desc = masked[0]["description"].as_str().unwrap();
    assert!(
        desc.contains("139****5678") && !desc.contains("13912345678"),
        "{desc}"
    );
    let raw = masked.to_string();
    assert!(
        !raw.contains("13912345678") && !raw.contains("13812345678"),
        "{raw}"
    );

    handle.stop().await.unwrap();
    // Stopped with the gRPC server: the port no longer answers.
    let after = reqwest::Client::new()
        .get(format!("{base}/services.json"))
        .send()
        .await;
    assert!(
        after.is_err(),
        "Open311 still answers after stop: {after:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_post_from_the_same_key_returns_the_first_id() {
    let dir = tempfile::tempdir().unwrap();
    let (handle, ch, base) = start(dir.path(), true).await;
    let http = reqwest::Client::new();
    let form = |key: &'static str, text: &'static str| {
        vec![
            ("api_key", key),
            ("jurisdiction_id", "A3区"),
            ("lat", "28.2"),
            ("long", "112.9"),
            ("description", text),
            ("phone", "13812345678"),
        ]
    };
    let text = "地铁站出口共享单车乱停乱放堵住了盲道";
    let (first, _) = post(&http, &base, &form(INTAKE, text)).await;
    let (again, _) = post(&http, &base, &form(INTAKE, text)).await;
    assert_eq!(again, first, "a retry of the same form gets the first id");
    // Concurrent retries too.
    let (f1, f2) = (form(INTAKE, text), form(INTAKE, text));
    let (a, b) = tokio::join!(post(&http, &base, &f1), post(&http, &base, &f2));
    assert_eq!((a.0, b.0), (first.clone(), first.clone()));
    // One case for all of them.
    let mut grpc = IntakeClient::new(ch.clone());
    let listed = grpc
        .list_cases(authed(v1::ListCasesRequest::default(), ANALYST))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.cases.len(), 1);

    // Another text, or the same text from another key, is another report.
    let (other_text, _) = post(&http, &base, &form(INTAKE, "地铁站出口共享单车乱停乱放")).await;
    assert_ne!(other_text, first);
    let (other_key, _) = post(&http, &base, &form(INTAKE_B, text)).await;
    assert_ne!(other_key, first);
    handle.stop().await.unwrap();
}

/// What a call should answer: a status and a word of the error's description (`None`: success).
type Expect = (u16, Option<&'static str>);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_open311_errors_with_their_http_status() {
    let dir = tempfile::tempdir().unwrap();
    let (handle, _ch, base) = start(dir.path(), true).await;
    let http = reqwest::Client::new();
    let (id, _) = post(
        &http,
        &base,
        &[
            ("api_key", INTAKE),
            ("address_string", "人民路"),
            ("description", "路灯坏了一个星期没人修"),
        ],
    )
    .await;
    // One over gRPC's text limit, one over its field limit (leaked: the table holds `&'static str`).
    let long_text: &'static str = "噪".repeat(20_001).leak();
    let long_name: &'static str = "名".repeat(501).leak();
    let request = format!("requests/{id}");
    let ok = [
        ("description", "路边垃圾桶满了没人清运"),
        ("address_string", "人民路"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut p: Vec<(&str, &str)> = ok.to_vec();
        p.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        p.extend_from_slice(extra);
        p
    };

    /// One call: method, path under /open311/v2/, parameters (api_key added when `key` is set).
    struct Call<'a> {
        method: Method,
        path: String,
        params: Vec<(&'a str, &'a str)>,
        key: Option<&'a str>,
    }
    let c = |method: Method,
             path: &str,
             params: Vec<(&'static str, &'static str)>,
             key: Option<&'static str>| Call {
        method,
        path: path.to_owned(),
        params,
        key,
    };
    let table: Vec<(&str, Call<'_>, Expect)> = vec![
        (
            "valid",
            c(Method::POST, "requests.json", with(&[]), Some(INTAKE)),
            (200, None),
        ),
        (
            "no description",
            c(
                Method::POST,
                "requests.json",
                with(&[("description", "")]),
                Some(INTAKE),
            ),
            (400, Some("description is required")),
        ),
        (
            "no words",
            c(
                Method::POST,
                "requests.json",
                with(&[("description", "!!!???")]),
                Some(INTAKE),
            ),
            (400, Some("text has no words")),
        ),
        (
            "unknown service_code",
            c(
                Method::POST,
                "requests.json",
                with(&[("service_code", "potholes")]),
                Some(INTAKE),
            ),
            (404, Some("service_code \"potholes\" was not found")),
        ),
        (
            "bad lat",
            c(
                Method::POST,
                "requests.json",
                with(&[("lat", "north"), ("long", "112.9")]),
                Some(INTAKE),
            ),
            (400, Some("lat \"north\" is not a number")),
        ),
        (
            "lat out of range",
            c(
                Method::POST,
                "requests.json",
                with(&[("lat", "91"), ("long", "112.9")]),
                Some(INTAKE),
            ),
            (400, Some("out of range")),
        ),
        (
            "lat without long",
            c(
                Method::POST,
                "requests.json",
                with(&[("lat", "28.2")]),
                Some(INTAKE),
            ),
            (400, Some("go together")),
        ),
        (
            "no location",
            c(
                Method::POST,
                "requests.json",
                vec![("description", "路边垃圾桶满了")],
                Some(INTAKE),
            ),
            (400, Some("a location is required")),
        ),
        (
            "letters in phone",
            c(
                Method::POST,
                "requests.json",
                with(&[("phone", "call me")]),
                Some(INTAKE),
            ),
            (400, Some("caller_phone")),
        ),
        (
            "oversize description",
            c(
                Method::POST,
                "requests.json",
                with(&[("description", long_text)]),
                Some(INTAKE),
            ),
            (400, Some("the limit is 20000")),
        ),
        (
            "oversize first_name",
            c(
                Method::POST,
                "requests.json",
                with(&[("first_name", long_name)]),
                Some(INTAKE),
            ),
            (400, Some("first_name is 501 characters")),
        ),
        (
            "no api_key",
            c(Method::POST, "requests.json", with(&[]), None),
            (401, Some("missing api_key")),
        ),
        (
            "unknown api_key",
            c(Method::POST, "requests.json", with(&[]), Some("guessed")),
            (401, Some("unknown or revoked")),
        ),
        (
            "platform may not file",
            c(Method::POST, "requests.json", with(&[]), Some(PLATFORM)),
            (403, Some("needs the intake role")),
        ),
        (
            "intake may not read",
            c(Method::GET, "requests.json", vec![], Some(INTAKE)),
            (403, Some("needs the platform or analyst role")),
        ),
        (
            "admin may not read",
            c(Method::GET, &format!("{request}.json"), vec![], Some(ADMIN)),
            (403, Some("platform or analyst")),
        ),
        (
            "reading needs a key",
            c(Method::GET, "requests.json", vec![], None),
            (401, Some("missing api_key")),
        ),
        (
            "analyst reads",
            c(
                Method::GET,
                &format!("{request}.json"),
                vec![],
                Some(ANALYST),
            ),
            (200, None),
        ),
        (
            "unknown id",
            c(
                Method::GET,
                "requests/PD-no-such-case.json",
                vec![],
                Some(PLATFORM),
            ),
            (404, Some("not found")),
        ),
        (
            "XML",
            c(
                Method::GET,
                &format!("{request}.xml"),
                vec![],
                Some(PLATFORM),
            ),
            (404, Some("only JSON")),
        ),
        (
            "bad status",
            c(
                Method::GET,
                "requests.json",
                vec![("status", "pending")],
                Some(PLATFORM),
            ),
            (400, Some("not open or closed")),
        ),
        (
            "bad start_date",
            c(
                Method::GET,
                "requests.json",
                vec![("start_date", "yesterday")],
                Some(PLATFORM),
            ),
            (400, Some("not a w3 date-time")),
        ),
        (
            "over 90 days",
            c(
                Method::GET,
                "requests.json",
                vec![
                    ("start_date", "2025-01-01T00:00:00Z"),
                    ("end_date", "2025-06-01T00:00:00Z"),
                ],
                Some(PLATFORM),
            ),
            (400, Some("90 days")),
        ),
        (
            "services are open",
            c(Method::GET, "services.json", vec![], None),
            (200, None),
        ),
        (
            "unknown service",
            c(Method::GET, "services/potholes.json", vec![], None),
            (404, Some("was not found")),
        ),
        (
            "no such resource",
            c(Method::GET, "tokens/123.json", vec![], None),
            (404, Some("is not served")),
        ),
        (
            "DELETE is not served",
            c(Method::DELETE, "requests.json", vec![], Some(ADMIN)),
            (405, Some("is not served")),
        ),
    ];
    for (name, call_, (status, word)) in table {
        let mut params = call_.params.clone();
        if let Some(k) = call_.key {
            params.push(("api_key", k));
        }
        let url = format!("{base}/{}", call_.path);
        let (got, body) = call(&http, call_.method.clone(), &url, &params).await;
        assert_eq!(got.as_u16(), status, "{name}: {body}");
        if let Some(word) = word {
            let errors = body.as_array().unwrap_or_else(|| panic!("{name}: {body}"));
            assert_eq!(errors.len(), 1, "{name}: {body}");
            assert_eq!(errors[0]["code"], status, "{name}: {body}");
            let description = errors[0]["description"].as_str().unwrap();
            assert!(
                description.contains(word),
                "{name}: {description:?} lacks {word:?}"
            );
        }
    }

    // A body that is not a form, and a token sent as a bearer header instead of api_key.
    let res = http
        .post(format!("{base}/requests.json"))
        .bearer_auth(INTAKE)
        .json(&json!({"description": "路灯坏了"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body[0]["code"], 415, "{body}");
    handle.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_tokens_api_key_is_ignored_and_phone_numbers_are_masked() {
    let dir = tempfile::tempdir().unwrap();
    let (handle, _ch, base) = start(dir.path(), false).await;
    let http = reqwest::Client::new();
    let (id, _) = post(
        &http,
        &base,
        &[
            ("address_string", "解放路"),
            ("description", "楼上装修电钻声太吵，联系13712345678"),
        ],
    )
    .await;
    let got = get_one(&http, &base, &id, "anything").await;
    let desc = got["description"].as_str().unwrap();
    assert!(
        desc.contains("137****5678"),
        "nobody sees phone numbers without authentication: {desc}"
    );
    handle.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_next_to_tls_only_on_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = serve_config(&dir.path().join("data"), &default_model());
    cfg.open311_addr = Some("0.0.0.0:0".parse().unwrap());
    cfg.tls = Some(paidan::config::TlsConfig {
        cert: dir.path().join("server.pem"),
        key: dir.path().join("server.key"),
        client_ca: None,
        client_auth_optional: false,
    });
    let err = paidan::server::start(cfg, false)
        .await
        .err()
        .expect("Open311 on a public address next to TLS is refused");
    assert!(err.to_string().contains("loopback"), "{err:#}");
}
