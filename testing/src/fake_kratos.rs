//! One fake of Kratos's admin API, shaped like Kratos's OpenAPI document, for
//! tests, benchmarks and manual runs:
//!
//! - `GET /admin/identities`: keyset pages of `page_size` (1 to 500, default
//!   250; otherwise a 400 with Kratos's error body) in listing order, the
//!   `page_token` being the id of the last identity of the page before; ONE
//!   comma-joined `Link` header with `rel="first"` and, while identities remain
//!   (or after every full page: [`FakeKratos::next_after_full_page`]),
//!   `rel="next"`. With `credentials_identifier`: the identities holding that
//!   identifier (trimmed, any case), unpaged.
//! - `GET` and `PATCH /admin/identities/{id}` (a JSON patch of `/external_id`),
//!   `GET /admin/identities/by/external/{external_id}`; 404 with Kratos's error
//!   body for an unknown id, 409 for an external id another identity holds.
//! - `GET /health/alive`, `GET /health/ready`, and `GET /fake/stats`: request
//!   counts per route (also [`FakeKratos::stats`]).
//!
//! It serves either N numbered identities
//! ([`crate::kratos_json::numbered_identity`], in id order) or a given list of
//! identities (in the order given), either over HTTP on 127.0.0.1
//! ([`FakeKratos::serve`]) or as a wiremock responder (`respond_with`), where
//! a test wants wiremock's call expectations.

mod catalogue;
mod routes;
mod serve;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::{json, Value};

use catalogue::{Catalogue, Listed, Numbered};
use routes::{decode, error, ok};
pub use serve::RunningFake;

/// The fake Kratos; clones share identities, changes and counts.
#[derive(Clone)]
pub struct FakeKratos {
    catalogue: Arc<Catalogue>,
    changes: Arc<RwLock<Changes>>,
    counters: Arc<Counters>,
    options: Options,
}

#[derive(Clone, Copy)]
struct Options {
    page_delay: Duration,
    answer_delay: Duration,
    largest_page: usize,
    next_after_full_page: bool,
}

/// Identities changed by `PATCH`, and who holds which external id.
#[derive(Default)]
struct Changes {
    patched: HashMap<usize, Vec<u8>>,
    external_ids: HashMap<String, usize>,
}

#[derive(Default)]
struct Counters {
    list: AtomicU64,
    lookup: AtomicU64,
    get: AtomicU64,
    patch: AtomicU64,
    external: AtomicU64,
}

/// Requests served so far, per route.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// `GET /admin/identities` without `credentials_identifier`.
    pub list_calls: u64,
    /// `GET /admin/identities?credentials_identifier=…`.
    pub identifier_lookups: u64,
    pub get_calls: u64,
    pub patch_calls: u64,
    pub external_id_lookups: u64,
}

/// An email pattern without `{n}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError(pub String);

impl std::fmt::Display for PatternError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the email pattern {:?} must contain {{n}}", self.0)
    }
}

impl std::error::Error for PatternError {}

/// One answer, whichever transport carries it.
struct Answer {
    status: u16,
    link: Option<String>,
    body: Vec<u8>,
    delay: Duration,
}

const LARGEST_PAGE: usize = 500;
const DEFAULT_PAGE: usize = 250;

impl FakeKratos {
    /// Identities `0..count`: identity `n` has id [`crate::kratos_json::numbered_id`]`(n)`
    /// and the email `email_pattern` with every `{n}` replaced by `n`.
    ///
    /// # Errors
    /// When the pattern has no `{n}`.
    pub fn numbered(count: usize, email_pattern: &str) -> Result<Self, PatternError> {
        let numbered = Numbered::new(count, email_pattern)
            .ok_or_else(|| PatternError(email_pattern.to_owned()))?;
        Ok(Self::over(Catalogue::Numbered(numbered)))
    }

    /// `identities` (in Kratos's JSON shape), listed in the order given.
    ///
    /// # Panics
    /// When an identity has no string `id`.
    pub fn listed(identities: Vec<Value>) -> Self {
        Self::over(Catalogue::Listed(Listed::new(identities)))
    }

    fn over(catalogue: Catalogue) -> Self {
        let changes = Changes {
            patched: HashMap::new(),
            external_ids: catalogue.external_ids().into_iter().collect(),
        };
        Self {
            catalogue: Arc::new(catalogue),
            changes: Arc::new(RwLock::new(changes)),
            counters: Arc::default(),
            options: Options {
                page_delay: Duration::ZERO,
                answer_delay: Duration::ZERO,
                largest_page: LARGEST_PAGE,
                next_after_full_page: false,
            },
        }
    }

    /// Every page of the listing waits this long first (a slower Kratos).
    pub fn page_delay(mut self, delay: Duration) -> Self {
        self.options.page_delay = delay;
        self
    }

    /// Every answer waits this long first.
    pub fn answer_delay(mut self, delay: Duration) -> Self {
        self.options.answer_delay = delay;
        self
    }

    /// Pages hold at most `size` identities, whatever the client asks for
    /// (small pages over few identities).
    pub fn largest_page(mut self, size: usize) -> Self {
        self.options.largest_page = size.clamp(1, LARGEST_PAGE);
        self
    }

    /// A full page always links a next page, which may turn out empty, as a
    /// keyset pagination that does not look ahead does.
    pub fn next_after_full_page(mut self) -> Self {
        self.options.next_after_full_page = true;
        self
    }

    /// How many identities are served.
    pub fn len(&self) -> usize {
        self.catalogue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Requests served so far.
    pub fn stats(&self) -> Stats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Stats {
            list_calls: read(&self.counters.list),
            identifier_lookups: read(&self.counters.lookup),
            get_calls: read(&self.counters.get),
            patch_calls: read(&self.counters.patch),
            external_id_lookups: read(&self.counters.external),
        }
    }

    /// The `page_token` of each page after the first, when listing with `page_size`.
    pub fn page_tokens(&self, page_size: usize) -> Vec<String> {
        let size = page_size.clamp(1, self.options.largest_page);
        let len = self.len();
        let mut tokens: Vec<String> = (size..len)
            .step_by(size)
            .map(|end| self.catalogue.id(end - 1))
            .collect();
        if self.options.next_after_full_page && len > 0 && len % size == 0 {
            tokens.push(self.catalogue.id(len - 1));
        }
        tokens
    }

    fn answer(&self, method: &str, path: &str, query: &str, body: &[u8]) -> Answer {
        let mut answer = self.route(method, path, query, body);
        answer.delay += self.options.answer_delay;
        answer
    }

    fn route(&self, method: &str, path: &str, query: &str, body: &[u8]) -> Answer {
        let get = method == "GET";
        match path {
            "/health/alive" | "/health/ready" if get => ok(json!({"status": "ok"}).to_string()),
            "/fake/stats" if get => ok(self.stats_json().to_string()),
            "/admin/identities" if get => self.identities(query),
            _ => match path.strip_prefix("/admin/identities/").map(decode) {
                Some(rest) => match rest.strip_prefix("by/external/") {
                    Some(external) if get => self.by_external_id(external),
                    None if !rest.contains('/') && get => self.get(&rest),
                    None if !rest.contains('/') && method == "PATCH" => self.patch(&rest, body),
                    _ => error(405, "the fake Kratos does not serve this request"),
                },
                None => error(404, "Unable to locate the resource"),
            },
        }
    }

    fn stats_json(&self) -> Value {
        let stats = self.stats();
        json!({
            "list_calls": stats.list_calls,
            "identifier_lookups": stats.identifier_lookups,
            "get_calls": stats.get_calls,
            "patch_calls": stats.patch_calls,
            "external_id_lookups": stats.external_id_lookups,
        })
    }
}
