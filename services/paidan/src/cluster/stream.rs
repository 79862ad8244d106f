//! SubmitComplaints (the client stream) in a cluster: each complaint of the stream is routed
//! like one SubmitComplaint (`route.rs`: to this node's handler, or forwarded to its partition's
//! owner, waiting through a takeover), up to [`STREAM_IN_FLIGHT`] at once; the answers go back in
//! request order and the first error ends the stream with its status, as the local handler's
//! own stream does. So a stream may be sent to any node, whatever jurisdictions it mixes.

use std::sync::Arc;

use futures::StreamExt;
use http_body::Frame;
use http_body_util::{BodyExt, Full};
use tonic::body::Body;
use tonic::codegen::Bytes;
use tonic::{Code, Status};
use tower::Service;

use super::Cluster;
use super::route::{SUBMIT_PATH, clone_parts, route};

/// Complaints of one stream routed at once (the local handler's own limit too).
const STREAM_IN_FLIGHT: usize = 64;

/// The next gRPC message frame (5-byte prefix included) of a request body; `None` at its end.
async fn next_frame(body: &mut Body, buf: &mut Vec<u8>) -> Result<Option<Bytes>, Status> {
    loop {
        if buf.len() >= 5 {
            let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
            if buf.len() >= 5 + len {
                let rest = buf.split_off(5 + len);
                let frame = std::mem::replace(buf, rest);
                return Ok(Some(Bytes::from(frame)));
            }
        }
        match body.frame().await {
            None if buf.is_empty() => return Ok(None),
            None => {
                return Err(Status::invalid_argument(
                    "the stream ended inside a message",
                ));
            }
            Some(Err(e)) => return Err(Status::cancelled(format!("request stream: {e}"))),
            Some(Ok(f)) => {
                if let Ok(data) = f.into_data() {
                    buf.extend_from_slice(&data);
                }
            }
        }
    }
}

/// One complaint of a stream, routed as a SubmitComplaint: its answer's message frame, or the
/// status that ends the stream.
async fn one_of_stream<S>(
    cluster: Arc<Cluster>,
    inner: S,
    parts: http::request::Parts,
    frame: Bytes,
) -> Result<Bytes, Status>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let mut parts = parts;
    parts.uri = http::Uri::from_static(SUBMIT_PATH);
    let req = http::Request::from_parts(parts, Body::new(Full::new(frame)));
    let resp = route(cluster, inner, req)
        .await
        .map_err(|_| Status::internal("the local handler failed"))?;
    let status_of = |h: &http::HeaderMap| {
        let code = h.get("grpc-status")?.to_str().ok()?.parse::<i32>().ok()?;
        let msg = h
            .get("grpc-message")
            .and_then(|m| m.to_str().ok())
            .map(percent_decode)
            .unwrap_or_default();
        Some(Status::new(Code::from_i32(code), msg))
    };
    if let Some(st) = status_of(resp.headers()) {
        return Err(st);
    }
    let collected = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| Status::unavailable(format!("owner's answer: {e}")))?;
    if let Some(st) = collected.trailers().and_then(status_of)
        && st.code() != Code::Ok
    {
        return Err(st);
    }
    Ok(collected.to_bytes())
}

/// `%XX` escapes of a grpc-message undone (what tonic encodes).
fn percent_decode(m: &str) -> String {
    let b = m.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// SubmitComplaints in a cluster: each complaint of the stream is routed as one SubmitComplaint
/// (to this node's handler or its partition's owner, as [`route`] does), up to
/// [`STREAM_IN_FLIGHT`] at once; the answers go back in request order, and the first error ends
/// the stream with its status, as the local handler's stream does.
pub(super) async fn route_stream<S>(
    cluster: Arc<Cluster>,
    inner: S,
    req: http::Request<Body>,
) -> Result<http::Response<Body>, S::Error>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let (parts, body) = req.into_parts();
    let frames = futures::stream::unfold(
        (body, Vec::new(), false),
        |(mut body, mut buf, done)| async move {
            if done {
                return None;
            }
            match next_frame(&mut body, &mut buf).await {
                Ok(Some(f)) => Some((Ok(f), (body, buf, false))),
                Ok(None) => None,
                Err(st) => Some((Err(st), (body, buf, true))),
            }
        },
    );
    let answers = frames
        .map(move |f| {
            let (cluster, inner, parts) = (cluster.clone(), inner.clone(), clone_parts(&parts));
            async move { one_of_stream(cluster, inner, parts, f?).await }
        })
        .buffered(STREAM_IN_FLIGHT);
    // Answers in order until the first error; then the trailers with the stream's status.
    let (tx, rx) = tokio::sync::mpsc::channel::<Frame<Bytes>>(STREAM_IN_FLIGHT);
    tokio::spawn(async move {
        let mut answers = std::pin::pin!(answers);
        let mut end = Status::ok("");
        while let Some(a) = answers.next().await {
            match a {
                Ok(frame) => {
                    if tx.send(Frame::data(frame)).await.is_err() {
                        return; // the caller went away
                    }
                }
                Err(st) => {
                    end = st;
                    break;
                }
            }
        }
        let mut h = http::HeaderMap::new();
        if end.add_header(&mut h).is_ok() {
            let _ = tx.send(Frame::trailers(h)).await;
        }
    });
    let out =
        tokio_stream::wrappers::ReceiverStream::new(rx).map(Ok::<_, std::convert::Infallible>);
    let body = http_body_util::StreamBody::new(out);
    let mut resp = http::Response::new(Body::new(body));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/grpc"),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_messages_are_percent_decoded() {
        // (as sent, as read)
        let table = [
            ("plain", "plain"),
            ("fenced%3A node-a", "fenced: node-a"),
            ("A3%E5%8C%BA", "A3区"),
            ("100%", "100%"),
            ("%zz%", "%zz%"),
            ("%E5区", "\u{FFFD}区"), // a lone byte of a character: replaced
        ];
        for (sent, want) in table {
            assert_eq!(percent_decode(sent), want, "{sent}");
        }
    }
}
