//! The fake's answers, route by route.

use std::sync::atomic::Ordering;
use std::sync::{PoisonError, RwLockReadGuard};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::{Answer, Changes, FakeKratos, DEFAULT_PAGE, LARGEST_PAGE};

impl FakeKratos {
    /// `GET /admin/identities`: a page, or a credentials identifier lookup.
    pub(super) fn identities(&self, query: &str) -> Answer {
        let query = ListQuery::parse(query);
        match &query.credentials_identifier {
            Some(identifier) => self.lookup(identifier),
            None => self.list(&query),
        }
    }

    fn changes(&self) -> RwLockReadGuard<'_, Changes> {
        self.changes.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_identity(&self, changes: &Changes, position: usize, out: &mut Vec<u8>) {
        match changes.patched.get(&position) {
            Some(patched) => out.extend_from_slice(patched),
            None => self.catalogue.write(position, out),
        }
    }

    fn array(&self, positions: impl IntoIterator<Item = usize>) -> Vec<u8> {
        let changes = self.changes();
        let mut body = vec![b'['];
        for (n, position) in positions.into_iter().enumerate() {
            if n > 0 {
                body.push(b',');
            }
            self.write_identity(&changes, position, &mut body);
        }
        body.push(b']');
        body
    }

    fn one(&self, position: usize) -> Answer {
        let mut body = Vec::new();
        self.write_identity(&self.changes(), position, &mut body);
        ok(body)
    }

    fn list(&self, query: &ListQuery) -> Answer {
        self.counters.list.fetch_add(1, Ordering::Relaxed);
        let asked = match query.page_size.as_deref().map(str::parse::<i64>) {
            None => DEFAULT_PAGE,
            Some(Ok(size)) if (1..=LARGEST_PAGE as i64).contains(&size) => size as usize,
            Some(_) => return error(400, "page_size must be between 1 and 500"),
        };
        let len = self.len();
        let start = match query.page_token.as_deref() {
            None | Some("") => 0,
            Some(token) => match self.catalogue.position(token) {
                Some(last) => last + 1,
                None => return error(400, "the page_token is invalid"),
            },
        };
        let served = asked.min(self.options.largest_page);
        let end = start.saturating_add(served).min(len);
        let link = |rel: &str, token: Option<String>| {
            let token = token
                .map(|token| format!("&page_token={}", encode(&token)))
                .unwrap_or_default();
            format!("</admin/identities?page_size={asked}{token}>; rel=\"{rel}\"")
        };
        let mut header = link("first", None);
        let full = end > start && end - start == served;
        if end < len || (full && self.options.next_after_full_page) {
            header.push(',');
            header.push_str(&link("next", Some(self.catalogue.id(end - 1))));
        }
        Answer {
            link: Some(header),
            delay: self.options.page_delay,
            ..ok(self.array(start..end))
        }
    }

    fn lookup(&self, identifier: &str) -> Answer {
        self.counters.lookup.fetch_add(1, Ordering::Relaxed);
        let wanted = identifier.trim().to_lowercase();
        ok(self.array(self.catalogue.with_identifier(&wanted)))
    }

    pub(super) fn get(&self, id: &str) -> Answer {
        self.counters.get.fetch_add(1, Ordering::Relaxed);
        match self.catalogue.position(id) {
            Some(position) => self.one(position),
            None => not_found(),
        }
    }

    pub(super) fn by_external_id(&self, external_id: &str) -> Answer {
        self.counters.external.fetch_add(1, Ordering::Relaxed);
        let holder = self.changes().external_ids.get(external_id).copied();
        match holder {
            Some(position) => self.one(position),
            None => not_found(),
        }
    }

    pub(super) fn patch(&self, id: &str, body: &[u8]) -> Answer {
        self.counters.patch.fetch_add(1, Ordering::Relaxed);
        let Some(position) = self.catalogue.position(id) else {
            return not_found();
        };
        let Ok(operations) = serde_json::from_slice::<Vec<PatchOperation>>(body) else {
            return error(400, "the body is not a JSON patch");
        };
        let mut changes = self.changes.write().unwrap_or_else(PoisonError::into_inner);
        let mut current = Vec::new();
        self.write_identity(&changes, position, &mut current);
        let Ok(mut identity) = serde_json::from_slice::<Value>(&current) else {
            return error(500, "the fake Kratos holds an identity that is not JSON");
        };
        for operation in operations {
            let wanted = match (operation.op.as_str(), operation.path.as_str()) {
                ("add" | "replace", "/external_id") => match operation.value {
                    Some(Value::String(external)) => Some(external),
                    Some(Value::Null) => None,
                    _ => return error(400, "external_id must be a string"),
                },
                ("remove", "/external_id") => None,
                _ => return error(400, "the fake Kratos patches /external_id only"),
            };
            if let Some(external) = &wanted {
                if changes
                    .external_ids
                    .get(external)
                    .is_some_and(|holder| *holder != position)
                {
                    return error(409, "Unable to insert or update resource because a resource with that value exists already");
                }
            }
            if let Some(Value::String(old)) = identity.get("external_id") {
                changes.external_ids.remove(old);
            }
            match wanted {
                Some(external) => {
                    changes.external_ids.insert(external.clone(), position);
                    identity["external_id"] = Value::String(external);
                }
                None => {
                    if let Some(fields) = identity.as_object_mut() {
                        fields.remove("external_id");
                    }
                }
            }
        }
        let body = identity.to_string().into_bytes();
        changes.patched.insert(position, body.clone());
        ok(body)
    }
}

#[derive(Deserialize)]
struct PatchOperation {
    op: String,
    path: String,
    #[serde(default)]
    value: Option<Value>,
}

#[derive(Default)]
struct ListQuery {
    page_size: Option<String>,
    page_token: Option<String>,
    credentials_identifier: Option<String>,
}

impl ListQuery {
    fn parse(query: &str) -> Self {
        let mut parsed = Self::default();
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let slot = match name.as_ref() {
                "page_size" => &mut parsed.page_size,
                "page_token" => &mut parsed.page_token,
                "credentials_identifier" => &mut parsed.credentials_identifier,
                _ => continue,
            };
            slot.get_or_insert_with(|| value.into_owned());
        }
        parsed
    }
}

pub(super) fn decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

pub(super) fn ok(body: impl Into<Vec<u8>>) -> Answer {
    Answer {
        status: 200,
        link: None,
        body: body.into(),
        delay: Duration::ZERO,
    }
}

fn not_found() -> Answer {
    error(404, "Unable to locate the resource")
}

pub(super) fn error(status: u16, message: &str) -> Answer {
    let reason = poem::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|status| status.canonical_reason())
        .unwrap_or_default();
    Answer {
        status,
        ..ok(crate::kratos_json::error(status, reason, message).to_string())
    }
}
