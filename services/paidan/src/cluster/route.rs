//! The router: a tower layer (inside access control, so the caller was authenticated and allowed
//! here first) that sends each `SubmitComplaint` to the owner of its jurisdiction's partition.
//! `SubmitComplaints` streams go through `stream.rs`, which routes each complaint the same way.
//! Every other call passes through: reads are served by any node (they read the database), and
//! edits lock the rows they change.
//!
//! How: the request's one message is read (a gRPC frame: flag, length, protobuf) for its
//! jurisdiction and request id. When this node holds the partition the request goes on to the
//! local handler; when another node does, the same HTTP/2 request — path, headers (the caller's
//! `authorization`: the owner authenticates the caller's own token, so access rules, rate
//! limits and the audit trail's actor are the caller's on both nodes), `x-request-id`, body — is
//! sent to the owner's advertised address over a gRPC channel kept per peer, marked
//! `x-paidan-forwarded-by`, and the owner's answer is relayed as it comes. A forwarded request is
//! never forwarded again: a node that no longer owns the partition answers UNAVAILABLE.
//!
//! When nobody owns the partition (a takeover is under way), the owner cannot be reached, or
//! the answer says the write was not committed (UNAVAILABLE, or a fenced insert), the router
//! waits for the owners table to change and tries again, up to [`OWNER_WAIT`]; a request with a
//! request id is safe to send again (the id makes it idempotent), one without is not and gets
//! UNAVAILABLE at once. Nothing is acknowledged that the owner did not commit: the reply is the
//! owner's, sent after its COMMIT.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use http_body_util::{BodyExt, Full};
use paidan_proto::v1;
use prost::Message;
use tonic::body::Body;
use tonic::codegen::Bytes;
use tonic::{Code, Status};
use tower::{Layer, Service, ServiceExt};

use super::{Cluster, OWNER_WAIT, Route};

/// The method routed to the owner.
pub const SUBMIT_PATH: &str = "/paidan.v1.Intake/SubmitComplaint";
/// The streaming method: each of its complaints is routed as one SubmitComplaint.
pub const STREAM_PATH: &str = "/paidan.v1.Intake/SubmitComplaints";

/// Set on a forwarded request (the forwarding node's id).
pub const FORWARDED_BY: &str = "x-paidan-forwarded-by";

/// Between two looks at the owners table while a partition changes hands.
const RETRY_EVERY: Duration = Duration::from_millis(200);

/// `Some` in a cluster; `None` passes every request through (sled, one node).
#[derive(Clone)]
pub struct ClusterLayer(pub Option<Arc<Cluster>>);

impl<S> Layer<S> for ClusterLayer {
    type Service = ClusterRoute<S>;
    fn layer(&self, inner: S) -> Self::Service {
        ClusterRoute {
            inner,
            cluster: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub struct ClusterRoute<S> {
    inner: S,
    cluster: Option<Arc<Cluster>>,
}

impl<S> Service<http::Request<Body>> for ClusterRoute<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        // The service that was polled ready serves this call; a fresh clone replaces it.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        match &self.cluster {
            Some(cluster) if req.uri().path() == SUBMIT_PATH => {
                Box::pin(route(cluster.clone(), inner, req))
            }
            Some(cluster) if req.uri().path() == STREAM_PATH => {
                Box::pin(super::stream::route_stream(cluster.clone(), inner, req))
            }
            _ => {
                let mut inner = inner;
                Box::pin(async move { inner.call(req).await })
            }
        }
    }
}

/// What the router needs from a SubmitComplaintRequest.
struct Target {
    jurisdiction: String,
    request_id: String,
}

/// The jurisdiction and request id of a gRPC request body holding one uncompressed message.
fn target(body: &[u8]) -> Option<Target> {
    let (&flag, rest) = body.split_first()?;
    let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    if flag != 0 || rest.len() != 4 + len {
        return None;
    }
    let r = v1::SubmitComplaintRequest::decode(&rest[4..]).ok()?;
    Some(Target {
        jurisdiction: r.jurisdiction,
        request_id: r.request_id,
    })
}

fn status_response(status: Status) -> http::Response<Body> {
    status.into_http()
}

/// The gRPC status of a trailers-only answer (an error), and its message.
fn early_status(resp: &http::Response<Body>) -> Option<(Code, String)> {
    let code = resp.headers().get("grpc-status")?.to_str().ok()?;
    let code = Code::from_i32(code.parse().ok()?);
    let msg = resp
        .headers()
        .get("grpc-message")
        .and_then(|m| m.to_str().ok())
        .unwrap_or("")
        .to_string();
    Some((code, msg))
}

/// An answer that says the write did not happen and the owner may have changed.
fn worth_another_owner(resp: &http::Response<Body>) -> bool {
    match early_status(resp) {
        // no owner, or the insert's transaction refused a lost lease (`StoreError::Fenced`):
        // nothing was written
        Some((Code::Unavailable, _)) => true,
        // the same refusal from a node built before fencing had its own error (rolling upgrade)
        Some((Code::Internal, msg)) => msg.contains("fenced"),
        _ => false,
    }
}

pub(super) async fn route<S>(
    cluster: Arc<Cluster>,
    mut inner: S,
    req: http::Request<Body>,
) -> Result<http::Response<Body>, S::Error>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let (parts, body) = req.into_parts();
    let bytes = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return Ok(status_response(Status::cancelled(format!(
                "request body: {e}"
            ))));
        }
    };
    let local = |parts: http::request::Parts, bytes: Bytes| {
        http::Request::from_parts(parts, Body::new(Full::new(bytes)))
    };
    // Not one plain message (compressed, malformed): the local handler answers (and decodes,
    // and refuses, as it would anyway; a valid one not owned here is fenced off).
    let Some(t) = target(&bytes) else {
        return inner.call(local(parts, bytes)).await;
    };
    let forwarded = parts.headers.contains_key(FORWARDED_BY);
    let deadline = Instant::now() + OWNER_WAIT;
    let mut last = Status::unavailable("no node holds this jurisdiction's partition yet");
    loop {
        let route = cluster.route(&t.jurisdiction);
        match route {
            Route::Local => {
                let resp = inner
                    .clone()
                    .oneshot(local(clone_parts(&parts), bytes.clone()));
                let resp = resp.await?;
                if !worth_another_owner(&resp) || t.request_id.is_empty() || forwarded {
                    return Ok(resp);
                }
                last = Status::unavailable("this node lost the partition during the write");
            }
            Route::Remote { .. } if forwarded => {
                return Ok(status_response(Status::unavailable(format!(
                    "{} does not own this jurisdiction's partition (forwarded by a node with an older view)",
                    cluster.node_id()
                ))));
            }
            Route::Remote { node, addr } => match forward(&cluster, &addr, &parts, &bytes).await {
                Ok(resp) if !worth_another_owner(&resp) || t.request_id.is_empty() => {
                    return Ok(resp);
                }
                Ok(_) => last = Status::unavailable(format!("owner {node} did not take it")),
                Err(e) if t.request_id.is_empty() => {
                    return Ok(status_response(Status::unavailable(format!(
                        "cannot reach owner {node}: {e}"
                    ))));
                }
                Err(e) => last = Status::unavailable(format!("cannot reach owner {node}: {e}")),
            },
            Route::Unowned if forwarded => {
                return Ok(status_response(Status::unavailable(
                    "this node does not own the jurisdiction's partition",
                )));
            }
            Route::Unowned => {}
        }
        if Instant::now() + RETRY_EVERY >= deadline {
            return Ok(status_response(last));
        }
        tokio::time::sleep(RETRY_EVERY).await;
        let c = cluster.clone();
        let _ = tokio::task::spawn_blocking(move || c.refresh_owners()).await;
    }
}

/// Method, URI, version and headers (extensions stay with the original).
pub(super) fn clone_parts(parts: &http::request::Parts) -> http::request::Parts {
    let mut b = http::Request::builder()
        .method(parts.method.clone())
        .uri(parts.uri.clone())
        .version(parts.version);
    if let Some(h) = b.headers_mut() {
        *h = parts.headers.clone();
    }
    let (mut p, ()) = b.body(()).expect("parts of a valid request").into_parts();
    p.extensions = parts.extensions.clone();
    p
}

/// Send the request to the owner at `addr`; its answer, or why it could not be sent.
async fn forward(
    cluster: &Cluster,
    addr: &str,
    parts: &http::request::Parts,
    bytes: &Bytes,
) -> Result<http::Response<Body>, String> {
    let channel = cluster.peer(addr).map_err(|e| e.to_string())?;
    let mut req = http::Request::builder()
        .method(parts.method.clone())
        .uri(parts.uri.path())
        .version(http::Version::HTTP_2);
    if let Some(h) = req.headers_mut() {
        *h = parts.headers.clone();
        h.remove(http::header::HOST);
        h.remove(http::header::CONNECTION);
        if let Ok(v) = http::HeaderValue::from_str(cluster.node_id()) {
            h.insert(FORWARDED_BY, v);
        }
    }
    let req = req
        .body(Body::new(Full::new(bytes.clone())))
        .map_err(|e| e.to_string())?;
    channel.oneshot(req).await.map_err(|e| {
        use std::error::Error;
        let mut msg = e.to_string();
        let mut src = e.source();
        while let Some(s) = src {
            msg = format!("{msg}: {s}");
            src = s.source();
        }
        msg
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(flag: u8, msg: &[u8]) -> Vec<u8> {
        let mut b = vec![flag];
        b.extend_from_slice(&(msg.len() as u32).to_be_bytes());
        b.extend_from_slice(msg);
        b
    }

    /// (body, the jurisdiction and request id read from it)
    type TargetCase<'a> = (Vec<u8>, Option<(&'a str, &'a str)>);

    #[test]
    fn the_target_is_read_from_one_plain_message() {
        let msg = v1::SubmitComplaintRequest {
            request_id: "r-1".into(),
            jurisdiction: "A3区".into(),
            text: "噪音".into(),
            ..Default::default()
        }
        .encode_to_vec();
        let mut two = frame(0, &msg);
        two.extend(frame(0, &msg));
        let mut short = frame(0, &msg);
        short.pop();
        let table: &[TargetCase<'_>] = &[
            (frame(0, &msg), Some(("A3区", "r-1"))),
            (frame(1, &msg), None), // compressed: the local handler decides
            (two, None),            // not one message
            (short, None),
            (vec![0, 0, 0], None),
            (Vec::new(), None),
            (frame(0, &[0xff, 0xff]), None), // not a SubmitComplaintRequest
            (frame(0, &[]), Some(("", ""))),
        ];
        for (body, want) in table {
            let got = target(body);
            let got = got
                .as_ref()
                .map(|t| (t.jurisdiction.as_str(), t.request_id.as_str()));
            assert_eq!(got, *want, "{body:?}");
        }
    }

    #[test]
    fn only_answers_that_wrote_nothing_are_sent_to_another_owner() {
        // (grpc-status, grpc-message, try another owner)
        let table: &[(Option<&str>, &str, bool)] = &[
            (None, "", false), // a success: the status comes in the trailers
            (Some("14"), "no owner", true),
            (Some("14"), "fenced: node-a does not hold partition 5", true),
            (
                Some("13"),
                "storage error: fenced: node-a does not hold partition 5",
                true,
            ),
            (Some("13"), "storage error: disk full", false),
            (Some("6"), "request_id reused", false),
            (Some("3"), "text is empty", false),
        ];
        for (code, msg, want) in table {
            let mut resp = http::Response::new(Body::default());
            if let Some(code) = code {
                resp.headers_mut()
                    .insert("grpc-status", code.parse().unwrap());
                resp.headers_mut()
                    .insert("grpc-message", msg.parse().unwrap());
            }
            assert_eq!(worth_another_owner(&resp), *want, "{code:?} {msg}");
        }
    }
}
