//! Retries of POST requests.json. GeoReport has no idempotency key, so the facade makes one: a
//! POST gets a fresh `request_id` unless the same caller posted the same form (every field but
//! `api_key`, byte for byte) within the window, in which case it gets the first one's. The
//! domain's idempotency on `request_id` then answers the stored case instead of a second one
//! (and a retry that overtakes a first POST still in flight waits for it on the writer thread).
//!
//! The memory is the server's: a retry after a restart files a new report.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// How long a POST's form is remembered.
pub const RETRY_WINDOW: Duration = Duration::from_secs(10 * 60);

/// What identifies a POST: the caller and a digest of its form.
pub type PostKey = [u8; 32];

/// The digest of a caller (the token's name; "" when authentication is off) and the form's
/// fields, each by name, absent and empty alike.
pub fn post_key<'a>(
    caller: &str,
    fields: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> PostKey {
    let mut h = Sha256::new();
    h.update(caller.as_bytes());
    for (name, value) in fields {
        h.update([0x1e]);
        h.update(name.as_bytes());
        h.update([0x1f]);
        h.update(value.unwrap_or("").as_bytes());
    }
    h.finalize().into()
}

/// The request ids handed out in the last window.
pub struct RecentPosts {
    window: Duration,
    inner: Mutex<Recent>,
}

#[derive(Default)]
struct Recent {
    by_key: HashMap<PostKey, (String, Instant)>,
    /// Insertion order, to forget expired keys without scanning them all.
    order: VecDeque<(PostKey, Instant)>,
}

impl RecentPosts {
    pub fn new(window: Duration) -> RecentPosts {
        RecentPosts {
            window,
            inner: Mutex::new(Recent::default()),
        }
    }

    /// The request id for a POST seen at `now`: the first one's within the window, else a new
    /// one, `open311-<ms since 1970>-<digest prefix>`, remembered from now on.
    pub fn request_id(&self, key: PostKey, now: Instant, now_ms: i64) -> String {
        let mut r = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(&(old, at)) = r.order.front() {
            if now.saturating_duration_since(at) < self.window {
                break;
            }
            r.order.pop_front();
            // A key is in `order` once: it is inserted again only after it left `by_key` here.
            r.by_key.remove(&old);
        }
        if let Some((id, _)) = r.by_key.get(&key) {
            return id.clone();
        }
        let id = format!("open311-{now_ms}-{}", hex::encode(&key[..8]));
        r.by_key.insert(key, (id.clone(), now));
        r.order.push_back((key, now));
        id
    }

    /// How many POSTs are remembered (for the tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().unwrap().by_key.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_caller_and_form_within_the_window_get_the_first_id() {
        let recent = RecentPosts::new(Duration::from_secs(600));
        let t0 = Instant::now();
        let form = |d: &'static str| [("description", Some(d)), ("phone", None)];
        let a = post_key("hotline", form("油烟太大"));
        let first = recent.request_id(a, t0, 1_000);
        // Retried within the window: the first id.
        let again = recent.request_id(a, t0 + Duration::from_secs(599), 2_000);
        assert_eq!(again, first);
        // Another caller, another text, an empty field where the other had none: distinct or equal
        // as the rule says.
        assert_ne!(post_key("other", form("油烟太大")), a);
        assert_ne!(post_key("hotline", form("油烟太大了")), a);
        assert_eq!(
            post_key(
                "hotline",
                [("description", Some("油烟太大")), ("phone", Some(""))]
            ),
            a
        );
        // A field's value cannot slide into the next field's name.
        assert_ne!(
            post_key("c", [("a", Some("b")), ("c", None)]),
            post_key("c", [("a", None), ("bc", None)])
        );
        // At the end of the window the form is forgotten: a new id.
        let later = recent.request_id(a, t0 + Duration::from_secs(600), 3_000);
        assert_ne!(later, first);
        assert!(later.starts_with("open311-3000-"), "{later}");
        assert_eq!(recent.len(), 1);
        // Expired entries are dropped as time moves on.
        let b = post_key("hotline", form("噪音"));
        recent.request_id(b, t0 + Duration::from_secs(1300), 4_000);
        assert_eq!(recent.len(), 1, "the first key expired and was forgotten");
    }
}
