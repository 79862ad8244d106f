//! Hostile input over the real gRPC API (issue 8): a table of inputs, each sent to Triage and
//! SubmitComplaint on an in-process server with the shipped model, each with the status code (or
//! OK) it must get and a substring of the message that says what is wrong. Malformed protobuf
//! (invalid UTF-8 in a string field, truncated messages) goes through a raw bytes codec, so the
//! server's own decoder sees it. Afterwards the store must be intact: cases stored before the
//! hostile rows read back unchanged, every accepted submission is readable, and ListCases counts
//! exactly the accepted submissions — also after a restart on the same data directory.

mod common;

use common::{complaint, serving};
use paidan_proto::v1;
use prost::bytes::{Buf, BufMut};
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;

/// What a row must get back from one RPC.
#[derive(Clone, Copy, Debug)]
enum Want {
    /// Not sent to this RPC (the field does not exist there).
    Skip,
    /// Accepted; any labels.
    Ok,
    /// Accepted with this category.
    Category(&'static str),
    /// Refused with this code; the message contains the text.
    Err(Code, &'static str),
}

/// One hostile request: the fields both RPCs share plus SubmitComplaint's own.
#[derive(Clone, Debug)]
struct Input {
    /// `None`: a unique id per row.
    request_id: Option<String>,
    title: String,
    text: String,
    channel: i32,
    jurisdiction: String,
    location: Option<v1::Location>,
    received_at: Option<prost_types::Timestamp>,
}

struct Row {
    name: &'static str,
    input: Input,
    triage: Want,
    submit: Want,
}

fn text(t: impl Into<String>) -> Input {
    Input {
        request_id: None,
        title: String::new(),
        text: t.into(),
        channel: v1::Channel::Channel12345 as i32,
        jurisdiction: "A3区".into(),
        location: None,
        received_at: None,
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

const FUMES: &str = "小区楼下烧烤店油烟太大，晚上油烟味呛得没法开窗";

fn rows() -> Vec<Row> {
    use Code::InvalidArgument as Invalid;
    let no_words = "has no words";
    vec![
        Row {
            name: "empty",
            input: text(""),
            triage: Want::Err(Invalid, "text is empty"),
            submit: Want::Err(Invalid, "text is empty"),
        },
        Row {
            name: "whitespace only (ASCII, ideographic space, tabs, newlines)",
            input: text(" \t\r\n　 \u{3000}\n"),
            triage: Want::Err(Invalid, "text is empty"),
            submit: Want::Err(Invalid, "text is empty"),
        },
        Row {
            name: "zero-width and invisible characters only",
            input: text("\u{200B}\u{200C}\u{200D}\u{FEFF}\u{2060}"),
            triage: Want::Err(Invalid, no_words),
            submit: Want::Err(Invalid, no_words),
        },
        Row {
            name: "20,000 chars (at the limit)",
            input: text(format!(
                "{FUMES}{}",
                "噪".repeat(20_000 - FUMES.chars().count())
            )),
            triage: Want::Ok,
            submit: Want::Ok,
        },
        Row {
            name: "20,001 chars",
            input: text("噪".repeat(20_001)),
            triage: Want::Err(Invalid, "text is 20001 characters long; the limit is 20000"),
            submit: Want::Err(Invalid, "text is 20001 characters long; the limit is 20000"),
        },
        Row {
            name: "1 MB text (under the 4 MiB message limit, over the text limit)",
            input: text("噪".repeat(1_000_000 / 3)),
            triage: Want::Err(Invalid, "the limit is 20000"),
            submit: Want::Err(Invalid, "the limit is 20000"),
        },
        Row {
            name: "5 MB text (over the 4 MiB message limit)",
            input: text("a".repeat(5 * 1024 * 1024)),
            triage: Want::Err(Code::OutOfRange, "message length too large"),
            submit: Want::Err(Code::OutOfRange, "message length too large"),
        },
        Row {
            name: "NUL in text",
            input: text(format!("{FUMES}\u{0}")),
            triage: Want::Err(Invalid, "text contains the control character U+0000"),
            submit: Want::Err(Invalid, "text contains the control character U+0000"),
        },
        Row {
            name: "escape sequence in text",
            input: text(format!("\u{1b}[31m{FUMES}\u{1b}[0m")),
            triage: Want::Err(Invalid, "U+001B"),
            submit: Want::Err(Invalid, "U+001B"),
        },
        Row {
            name: "DEL and C1 controls",
            input: text(format!("{FUMES}\u{7f}\u{85}")),
            triage: Want::Err(Invalid, "U+007F"),
            submit: Want::Err(Invalid, "U+007F"),
        },
        Row {
            name: "bell in title",
            input: Input {
                title: "油烟\u{7}".into(),
                ..text(FUMES)
            },
            triage: Want::Err(Invalid, "title contains the control character U+0007"),
            submit: Want::Err(Invalid, "title contains the control character U+0007"),
        },
        Row {
            name: "tabs and newlines are fine",
            input: text("小区楼下烧烤店\t油烟太大，\r\n晚上油烟味呛得没法开窗"),
            triage: Want::Category("cooking_fumes"),
            submit: Want::Category("cooking_fumes"),
        },
        Row {
            name: "emoji only",
            input: text("😡😡😡🔥🔥👎🏻"),
            triage: Want::Err(Invalid, no_words),
            submit: Want::Err(Invalid, no_words),
        },
        Row {
            name: "emoji with a complaint",
            input: text(format!("😡😡 {FUMES} 🔥🔥")),
            triage: Want::Category("cooking_fumes"),
            submit: Want::Category("cooking_fumes"),
        },
        Row {
            name: "punctuation only",
            input: text("。。。！！！？？？……——“”《》,.;:!?"),
            triage: Want::Err(Invalid, no_words),
            submit: Want::Err(Invalid, no_words),
        },
        Row {
            name: "digits only",
            input: text("1234567890 ０１２３ 13800001111"),
            triage: Want::Err(Invalid, no_words),
            submit: Want::Err(Invalid, no_words),
        },
        Row {
            name: "English only",
            input: text("The barbecue restaurant downstairs makes a lot of smoke every night"),
            triage: Want::Ok,
            submit: Want::Ok,
        },
        Row {
            name: "traditional Chinese",
            input: text("社區樓下燒烤店油煙太大，晚上油煙味嗆得沒法開窗"),
            triage: Want::Category("cooking_fumes"),
            submit: Want::Category("cooking_fumes"),
        },
        Row {
            name: "mixed scripts (simplified, traditional, Latin, full-width, Cyrillic, Arabic)",
            input: text(
                "楼下BBQ店油煙太大，ＢＢＱ smoke，дым очень сильный，دخان，晚上油烟味呛得没法开窗",
            ),
            triage: Want::Category("cooking_fumes"),
            submit: Want::Category("cooking_fumes"),
        },
        Row {
            name: "title of 501 characters",
            input: Input {
                title: "油".repeat(501),
                ..text(FUMES)
            },
            triage: Want::Err(Invalid, "title is 501 characters long; the limit is 500"),
            submit: Want::Err(Invalid, "title is 501 characters long; the limit is 500"),
        },
        Row {
            name: "10 kB jurisdiction",
            input: Input {
                jurisdiction: "区".repeat(10_240),
                ..text(FUMES)
            },
            triage: Want::Err(
                Invalid,
                "jurisdiction is 10240 characters long; the limit is 500",
            ),
            submit: Want::Err(
                Invalid,
                "jurisdiction is 10240 characters long; the limit is 500",
            ),
        },
        Row {
            name: "NaN location",
            input: Input {
                location: Some(v1::Location {
                    latitude: f64::NAN,
                    longitude: 112.9,
                }),
                ..text(FUMES)
            },
            triage: Want::Skip,
            submit: Want::Err(Invalid, "location (NaN, 112.9) is out of range"),
        },
        Row {
            name: "10 kB request_id",
            input: Input {
                request_id: Some("r".repeat(10_240)),
                ..text(FUMES)
            },
            triage: Want::Skip,
            submit: Want::Err(Invalid, "request_id is 10240 bytes long; the limit is 128"),
        },
        Row {
            name: "NUL in request_id",
            input: Input {
                request_id: Some("r-\u{0}".into()),
                ..text(FUMES)
            },
            triage: Want::Skip,
            submit: Want::Err(Invalid, "request_id contains the control character U+0000"),
        },
        Row {
            name: "unknown channel enum value",
            input: Input {
                channel: 42,
                ..text(FUMES)
            },
            triage: Want::Err(Invalid, "channel 42 is not a known Channel"),
            submit: Want::Err(Invalid, "channel 42 is not a known Channel"),
        },
        Row {
            name: "negative channel enum value",
            input: Input {
                channel: -1,
                ..text(FUMES)
            },
            triage: Want::Err(Invalid, "channel -1 is not a known Channel"),
            submit: Want::Err(Invalid, "channel -1 is not a known Channel"),
        },
        Row {
            name: "received_at a day in the future",
            input: Input {
                received_at: Some(prost_types::Timestamp {
                    seconds: now_secs() + 86_400,
                    nanos: 0,
                }),
                ..text(FUMES)
            },
            triage: Want::Skip,
            submit: Want::Err(Invalid, "received_at lies 86"),
        },
        Row {
            name: "received_at at the end of time",
            input: Input {
                received_at: Some(prost_types::Timestamp {
                    seconds: i64::MAX,
                    nanos: i32::MAX,
                }),
                ..text(FUMES)
            },
            triage: Want::Skip,
            submit: Want::Err(Invalid, "in the future"),
        },
        Row {
            name: "received_at before 1970",
            input: Input {
                received_at: Some(prost_types::Timestamp {
                    seconds: i64::MIN,
                    nanos: -1,
                }),
                ..text(FUMES)
            },
            triage: Want::Skip,
            submit: Want::Err(Invalid, "received_at is before 1970"),
        },
    ]
}

/// Passes raw protobuf bytes through unchanged, so a test can send what no generated client would.
#[derive(Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }
    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        let out = src.chunk().to_vec();
        src.advance(out.len());
        Ok(Some(out))
    }
}

async fn raw_unary(ch: &Channel, method: &'static str, body: Vec<u8>) -> Result<(), tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(ch.clone());
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let path = http::uri::PathAndQuery::from_static(method);
    grpc.unary(tonic::Request::new(body), path, RawCodec)
        .await
        .map(|_| ())
}

/// Protobuf field `field` as a length-delimited value (wire type 2) holding `bytes`.
fn len_field(field: u8, bytes: &[u8]) -> Vec<u8> {
    assert!(bytes.len() < 128 && field < 16);
    let mut out = vec![(field << 3) | 2, bytes.len() as u8];
    out.extend_from_slice(bytes);
    out
}

async fn send(
    client: &mut v1::intake_client::IntakeClient<Channel>,
    rpc: &str,
    i: usize,
    input: &Input,
) -> Result<(Option<v1::TriageResponse>, Option<String>), tonic::Status> {
    if rpc == "Triage" {
        let t = client
            .triage(v1::TriageRequest {
                title: input.title.clone(),
                text: input.text.clone(),
                channel: input.channel,
                jurisdiction: input.jurisdiction.clone(),
            })
            .await?
            .into_inner();
        return Ok((Some(t), None));
    }
    let mut r = complaint(
        &input
            .request_id
            .clone()
            .unwrap_or_else(|| format!("hostile-{i}")),
        &input.text,
    );
    r.title = input.title.clone();
    r.channel = input.channel;
    r.jurisdiction = input.jurisdiction.clone();
    r.location = input.location;
    r.received_at = input.received_at;
    let s = client.submit_complaint(r).await?.into_inner();
    assert!(s.created, "row {i}: a fresh request_id creates a case");
    Ok((s.triage, Some(s.case_id)))
}

async fn list_all(client: &mut v1::intake_client::IntakeClient<Channel>) -> Vec<v1::Case> {
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_cases(v1::ListCasesRequest {
                page_size: 1000,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .expect("ListCases")
            .into_inner();
        out.extend(page.cases);
        if page.next_page_token.is_empty() {
            return out;
        }
        token = page.next_page_token;
    }
}

/// A stored case without the parts that legitimately change on their own (forwarding progress).
fn stable(mut c: v1::Case) -> v1::Case {
    c.forwarding = None;
    c
}

async fn get(client: &mut v1::intake_client::IntakeClient<Channel>, id: &str) -> v1::Case {
    stable(
        client
            .get_case(v1::GetCaseRequest { case_id: id.into() })
            .await
            .unwrap_or_else(|e| panic!("GetCase {id}: {e:?}"))
            .into_inner(),
    )
}

async fn check_store(
    client: &mut v1::intake_client::IntakeClient<Channel>,
    before: &[v1::Case],
    accepted: &[(String, String)],
    when: &str,
) {
    for c in before {
        assert_eq!(&get(client, &c.id).await, c, "{when}");
    }
    for (id, sent) in accepted {
        let c = get(client, id).await;
        assert_eq!(c.text, paidan_text::mask_pii(sent), "{when}");
    }
    let mut ids: Vec<String> = list_all(client).await.into_iter().map(|c| c.id).collect();
    ids.sort();
    let mut want: Vec<String> = accepted.iter().map(|(id, _)| id.clone()).collect();
    want.sort();
    assert_eq!(
        ids, want,
        "{when}: ListCases lists exactly the accepted cases"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_clear_statuses_and_leave_the_store_intact() {
    let dir = tempfile::tempdir().unwrap();
    let (server, mut client, ch) = serving(dir.path()).await;

    // Cases stored before the hostile rows.
    let mut before = Vec::new();
    for (i, t) in [
        "幸福小区门口的烧烤摊每天晚上油烟很大，呛得居民没法开窗",
        "工地夜间施工噪音扰民，凌晨两点还在打桩",
        "公司拖欠工资三个月，社保也没有缴纳",
    ]
    .into_iter()
    .enumerate()
    {
        let s = client
            .submit_complaint(complaint(&format!("before-{i}"), t))
            .await
            .unwrap()
            .into_inner();
        before.push(get(&mut client, &s.case_id).await);
    }
    // (case id, text sent) of every accepted submission.
    let mut accepted: Vec<(String, String)> = before
        .iter()
        .map(|c| (c.id.clone(), c.text.clone()))
        .collect();

    let mut failures = Vec::new();
    for (i, row) in rows().into_iter().enumerate() {
        for (rpc, want) in [("Triage", row.triage), ("SubmitComplaint", row.submit)] {
            if matches!(want, Want::Skip) {
                continue;
            }
            let got = send(&mut client, rpc, i, &row.input).await;
            let ok = match (&want, &got) {
                (Want::Ok, Ok(_)) => true,
                (Want::Category(c), Ok((Some(t), _))) => {
                    t.category.as_ref().map(|l| l.code.as_str()) == Some(*c)
                }
                (Want::Err(code, msg), Err(s)) => s.code() == *code && s.message().contains(msg),
                _ => false,
            };
            if let Ok((Some(t), _)) = &got {
                // Whatever is accepted gets real labels and a consistent review flag.
                let ok_labels = t.category.as_ref().is_some_and(|l| !l.code.is_empty())
                    && t.department.as_ref().is_some_and(|l| !l.code.is_empty())
                    // flagged for review exactly when there are reasons
                    && t.needs_review != t.review_reasons.is_empty();
                if !ok_labels {
                    failures.push(format!("{} / {rpc}: bad triage {t:?}", row.name));
                }
            }
            if let Ok((_, Some(id))) = &got {
                accepted.push((id.clone(), row.input.text.clone()));
            }
            let got = match got {
                Ok((t, _)) => format!(
                    "OK {:?} needs_review={:?} {:?}",
                    t.as_ref()
                        .and_then(|t| t.category.as_ref())
                        .map(|l| &l.code),
                    t.as_ref().map(|t| t.needs_review),
                    t.as_ref().map(|t| &t.review_reasons)
                ),
                Err(s) => {
                    let m: String = s.message().chars().take(300).collect();
                    format!("{:?} {m:?}", s.code())
                }
            };
            // The whole table is printed (`--nocapture`): what each hostile input gets.
            eprintln!("{} / {rpc}: {got}", row.name);
            if !ok {
                failures.push(format!("{} / {rpc}: want {want:?}, got {got}", row.name));
            }
        }
    }

    // Malformed protobuf that no generated client would send, straight to the server's decoder.
    let triage = "/paidan.v1.Intake/Triage";
    let submit = "/paidan.v1.Intake/SubmitComplaint";
    let mut bad_utf8_text = len_field(2, &[0xe5, 0x99, 0xaa, 0xff, 0xfe, 0xc0, 0x80]);
    bad_utf8_text.extend(len_field(4, "A3区".as_bytes()));
    let mut bad_utf8_id = len_field(1, b"r-\xed\xa0\x80"); // an encoded UTF-16 surrogate
    bad_utf8_id.extend(len_field(3, &FUMES.as_bytes()[..12]));
    bad_utf8_id.extend([4 << 3, 1]); // channel = 1
    let raw: Vec<(&str, &str, Vec<u8>, Code, &str)> = vec![
        (
            "invalid UTF-8 in text",
            triage,
            bad_utf8_text.clone(),
            Code::Internal,
            "not UTF-8",
        ),
        (
            "invalid UTF-8 in text",
            submit,
            len_field(3, &[0xff, 0xfe]),
            Code::Internal,
            "not UTF-8",
        ),
        (
            "surrogate in request_id",
            submit,
            bad_utf8_id,
            Code::Internal,
            "not UTF-8",
        ),
        (
            "length prefix past the end",
            triage,
            vec![2 << 3 | 2, 100, b'a'],
            Code::Internal,
            "failed to decode Protobuf message",
        ),
        (
            "unterminated varint",
            submit,
            vec![4 << 3, 0xff, 0xff],
            Code::Internal,
            "failed to decode Protobuf message",
        ),
        (
            "wire type 7",
            triage,
            vec![2 << 3 | 7, 0],
            Code::Internal,
            "failed to decode Protobuf message",
        ),
        (
            "empty message (all fields default)",
            triage,
            Vec::new(),
            Code::InvalidArgument,
            "text is empty",
        ),
    ];
    for (name, method, body, code, msg) in raw {
        let got = raw_unary(&ch, method, body).await;
        eprintln!("raw {name} / {method}: {got:?}");
        match got {
            Err(s) if s.code() == code && s.message().contains(msg) => {}
            got => failures.push(format!(
                "raw {name} / {method}: want {code:?} {msg:?}, got {got:?}"
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Bulk: a hostile complaint in the middle of a SubmitComplaints stream. The stream ends
    // with its status after the complaints before it are acknowledged; the ones after it may or
    // may not have been stored already (they run concurrently), so a client retries the
    // unacknowledged tail with the same request_ids — which must not store anything twice.
    let bulk = vec![
        complaint("bulk-0", "小区垃圾站三天没人清运，臭味很大"),
        complaint("bulk-1", "噪音\u{0}扰民"),
        complaint("bulk-2", "路灯坏了一个月没人修，晚上很黑"),
    ];
    let mut stream = client
        .submit_complaints(tokio_stream::iter(bulk.clone()))
        .await
        .unwrap()
        .into_inner();
    let first = stream
        .message()
        .await
        .expect("bulk-0 acknowledged")
        .unwrap();
    assert!(first.created);
    accepted.push((first.case_id, bulk[0].text.clone()));
    let err = stream.message().await.expect_err("bulk-1 is refused");
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("U+0000"), "{err:?}");
    let retry = client
        .submit_complaint(bulk[2].clone())
        .await
        .expect("the unacknowledged tail can be retried")
        .into_inner();
    accepted.push((retry.case_id, bulk[2].text.clone()));

    // Still serving normally.
    let t = client
        .triage(v1::TriageRequest {
            text: FUMES.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(t.category.unwrap().code, "cooking_fumes");

    // The store is intact, before and after a restart on the same directory.
    check_store(&mut client, &before, &accepted, "before restart").await;
    drop((client, ch));
    server.stop().await.unwrap();
    let (server, mut client, _) = serving(dir.path()).await;
    check_store(&mut client, &before, &accepted, "after restart").await;
    server.stop().await.unwrap();
}
