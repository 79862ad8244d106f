//! Delivery targets: the platform's gRPC `CaseSink` and a signed HTTP webhook.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use paidan_proto::v1::case_sink_client::CaseSinkClient;
use paidan_store::OutboxEntry;
use tonic::transport::{Channel, Endpoint};

use crate::event::{self, WebhookEvent};
use paidan_proto::convert;

/// What the platform answered to a delivered event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ack {
    /// The platform had already seen this idempotency key.
    pub duplicate: bool,
    pub platform_case_id: String,
}

/// A failed delivery. Retryable failures are retried with backoff; the others send the entry to
/// the dead-letter tree at once.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SinkError {
    pub retryable: bool,
    pub message: String,
}

impl SinkError {
    pub fn retryable(message: impl Into<String>) -> SinkError {
        SinkError {
            retryable: true,
            message: message.into(),
        }
    }

    pub fn permanent(message: impl Into<String>) -> SinkError {
        SinkError {
            retryable: false,
            message: message.into(),
        }
    }
}

pub type DeliverFuture<'a> = Pin<Box<dyn Future<Output = Result<Ack, SinkError>> + Send + 'a>>;

/// A place case events are delivered to.
pub trait Sink: Send + Sync + 'static {
    fn name(&self) -> &str;
    fn deliver<'a>(&'a self, entry: &'a OutboxEntry) -> DeliverFuture<'a>;
}

/// Which gRPC answers are final (the event can never be accepted as it is).
pub fn grpc_code_is_retryable(code: tonic::Code) -> bool {
    !matches!(
        code,
        tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition
    )
}

/// Which HTTP answers are final: 4xx except 408 (timeout) and 429 (slow down).
pub fn http_status_is_retryable(status: u16) -> bool {
    !(400..500).contains(&status) || status == 408 || status == 429
}

/// Client of the platform's `paidan.v1.CaseSink/Deliver`.
pub struct GrpcSink {
    name: String,
    client: CaseSinkClient<Channel>,
}

impl GrpcSink {
    /// Connects lazily: an unreachable platform is a retryable delivery failure, not a startup error.
    pub fn new(name: &str, endpoint: &str, timeout: Duration) -> Result<GrpcSink, SinkError> {
        let ep = Endpoint::from_shared(endpoint.to_string())
            .map_err(|e| SinkError::permanent(format!("bad endpoint {endpoint:?}: {e}")))?
            .connect_timeout(timeout)
            .timeout(timeout);
        Ok(GrpcSink {
            name: name.to_string(),
            client: CaseSinkClient::new(ep.connect_lazy()),
        })
    }
}

impl Sink for GrpcSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn deliver<'a>(&'a self, entry: &'a OutboxEntry) -> DeliverFuture<'a> {
        Box::pin(async move {
            let mut client = self.client.clone();
            match client.deliver(convert::event_to_proto(entry)).await {
                Ok(resp) => {
                    let ack = resp.into_inner();
                    Ok(Ack {
                        duplicate: ack.duplicate,
                        platform_case_id: ack.platform_case_id,
                    })
                }
                Err(status) => {
                    let message = format!("grpc {:?}: {}", status.code(), status.message());
                    Err(SinkError {
                        retryable: grpc_code_is_retryable(status.code()),
                        message,
                    })
                }
            }
        })
    }
}

/// Signed JSON POSTs (see [`crate::event`] for the format and headers).
pub struct WebhookSink {
    name: String,
    url: String,
    secret: Vec<u8>,
    client: reqwest::Client,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct WebhookAck {
    duplicate: bool,
    platform_case_id: String,
}

impl WebhookSink {
    pub fn new(
        name: &str,
        url: &str,
        secret: &[u8],
        timeout: Duration,
    ) -> Result<WebhookSink, SinkError> {
        reqwest::Url::parse(url)
            .map_err(|e| SinkError::permanent(format!("bad url {url:?}: {e}")))?;
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| SinkError::permanent(format!("http client: {e}")))?;
        Ok(WebhookSink {
            name: name.to_string(),
            url: url.to_string(),
            secret: secret.to_vec(),
            client,
        })
    }
}

impl Sink for WebhookSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn deliver<'a>(&'a self, entry: &'a OutboxEntry) -> DeliverFuture<'a> {
        Box::pin(async move {
            let body = serde_json::to_vec(&WebhookEvent::from_entry(entry))
                .map_err(|e| SinkError::permanent(format!("encode event: {e}")))?;
            let timestamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
                .to_string();
            let signature = event::sign(&self.secret, &timestamp, &body);
            let resp = self
                .client
                .post(&self.url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(event::HEADER_TIMESTAMP, &timestamp)
                .header(event::HEADER_SIGNATURE, signature)
                .header(event::HEADER_IDEMPOTENCY_KEY, &entry.idempotency_key)
                .body(body)
                .send()
                .await
                .map_err(|e| SinkError::retryable(format!("http: {e}")))?;
            let status = resp.status();
            if status.is_success() {
                let text = resp.text().await.unwrap_or_default();
                let ack: WebhookAck = serde_json::from_str(&text).unwrap_or_default();
                return Ok(Ack {
                    duplicate: ack.duplicate,
                    platform_case_id: ack.platform_case_id,
                });
            }
            let text = resp.text().await.unwrap_or_default();
            let snippet: String = text.chars().take(200).collect();
            Err(SinkError {
                retryable: http_status_is_retryable(status.as_u16()),
                message: format!("http {}: {snippet}", status.as_u16()),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_answers() {
        let http = [
            (200, true),
            (400, false),
            (401, false),
            (404, false),
            (408, true),
            (409, false),
            (422, false),
            (429, true),
            (500, true),
            (503, true),
        ];
        for (status, want) in http {
            assert_eq!(http_status_is_retryable(status), want, "{status}");
        }
        use tonic::Code::*;
        let grpc = [
            (InvalidArgument, false),
            (FailedPrecondition, false),
            (Unavailable, true),
            (DeadlineExceeded, true),
            (Internal, true),
            (ResourceExhausted, true),
        ];
        for (code, want) in grpc {
            assert_eq!(grpc_code_is_retryable(code), want, "{code:?}");
        }
    }
}
