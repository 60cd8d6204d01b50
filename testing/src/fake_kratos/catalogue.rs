//! What the fake Kratos serves, serialised once: numbered identities rendered
//! from one template (millions cost no memory), or a given list of identities,
//! each serialised once.

use std::collections::HashMap;

use serde_json::Value;

use crate::kratos_json::{numbered_shape, NumberedFields, NUMBERED_ID_PREFIX};

pub(super) enum Catalogue {
    Numbered(Numbered),
    Listed(Listed),
}

impl Catalogue {
    pub fn len(&self) -> usize {
        match self {
            Self::Numbered(numbered) => numbered.count,
            Self::Listed(listed) => listed.bodies.len(),
        }
    }

    /// The position of the identity with id `id`.
    pub fn position(&self, id: &str) -> Option<usize> {
        match self {
            Self::Numbered(numbered) => {
                let hex = id.strip_prefix(NUMBERED_ID_PREFIX)?;
                let n = usize::from_str_radix(hex, 16).ok()?;
                (id.len() == 36 && n < numbered.count).then_some(n)
            }
            Self::Listed(listed) => listed.positions.get(id).copied(),
        }
    }

    /// The id of the identity at `position` (< `len()`).
    pub fn id(&self, position: usize) -> String {
        match self {
            Self::Numbered(_) => format!("{NUMBERED_ID_PREFIX}{position:012x}"),
            Self::Listed(listed) => listed.ids[position].clone(),
        }
    }

    /// Appends the JSON of the identity at `position` (< `len()`).
    pub fn write(&self, position: usize, out: &mut Vec<u8>) {
        match self {
            Self::Numbered(numbered) => numbered.write(position, out),
            Self::Listed(listed) => out.extend_from_slice(&listed.bodies[position]),
        }
    }

    /// The positions of the identities with the credentials identifier `wanted`,
    /// trimmed and in lower case.
    pub fn with_identifier(&self, wanted: &str) -> Vec<usize> {
        match self {
            Self::Numbered(numbered) => numbered.with_identifier(wanted).into_iter().collect(),
            Self::Listed(listed) => listed.identifiers.get(wanted).cloned().unwrap_or_default(),
        }
    }

    /// The external ids the identities start with.
    pub fn external_ids(&self) -> Vec<(String, usize)> {
        match self {
            Self::Numbered(_) => Vec::new(),
            Self::Listed(listed) => listed.external_ids.clone(),
        }
    }
}

/// Identity `n` of `count`: see [`crate::kratos_json::numbered_identity`].
pub(super) struct Numbered {
    count: usize,
    /// The email pattern split at each `{n}`: as given, JSON-escaped, and
    /// JSON-escaped in lower case.
    parts: Vec<[String; 3]>,
    template: Vec<Segment>,
}

#[derive(Clone)]
enum Segment {
    Text(String),
    Id,
    Email,
    Identifier,
    Number,
    AddressId,
    RecoveryId,
}

const SLOTS: [(&str, Segment); 6] = [
    ("id", Segment::Id),
    ("email", Segment::Email),
    ("identifier", Segment::Identifier),
    ("number", Segment::Number),
    ("address_id", Segment::AddressId),
    ("recovery_id", Segment::RecoveryId),
];

impl Numbered {
    /// `None` when `pattern` has no `{n}`.
    pub fn new(count: usize, pattern: &str) -> Option<Self> {
        if !pattern.contains("{n}") {
            return None;
        }
        let escaped = |text: &str| {
            let quoted = Value::String(text.to_owned()).to_string();
            quoted[1..quoted.len() - 1].to_owned()
        };
        let parts = pattern
            .split("{n}")
            .map(|part| {
                [
                    part.to_owned(),
                    escaped(part),
                    escaped(&part.to_lowercase()),
                ]
            })
            .collect();
        let shape = numbered_shape(&NumberedFields {
            id: "{{id}}",
            email: "{{email}}",
            identifier: "{{identifier}}",
            number: "{{number}}",
            address_id: "{{address_id}}",
            recovery_id: "{{recovery_id}}",
        })
        .to_string();
        let mut template = Vec::new();
        let mut pieces = shape.split("{{");
        template.extend(pieces.next().map(|text| Segment::Text(text.to_owned())));
        for piece in pieces {
            let (name, text) = piece.split_once("}}")?;
            let (_, slot) = SLOTS.iter().find(|(known, _)| *known == name)?;
            template.push(slot.clone());
            template.push(Segment::Text(text.to_owned()));
        }
        Some(Self {
            count,
            parts,
            template,
        })
    }

    fn email(&self, n: usize, form: usize, out: &mut Vec<u8>) {
        let number = n.to_string();
        for (index, part) in self.parts.iter().enumerate() {
            if index > 0 {
                out.extend_from_slice(number.as_bytes());
            }
            out.extend_from_slice(part[form].as_bytes());
        }
    }

    fn write(&self, n: usize, out: &mut Vec<u8>) {
        let uuid = |value: u128| uuid::Uuid::from_u128(value).hyphenated().to_string();
        for segment in &self.template {
            match segment {
                Segment::Text(text) => out.extend_from_slice(text.as_bytes()),
                Segment::Id => {
                    out.extend_from_slice(format!("{NUMBERED_ID_PREFIX}{n:012x}").as_bytes())
                }
                Segment::Email => self.email(n, 1, out),
                Segment::Identifier => self.email(n, 2, out),
                Segment::Number => out.extend_from_slice(n.to_string().as_bytes()),
                Segment::AddressId => out.extend_from_slice(uuid((n as u128) << 1).as_bytes()),
                Segment::RecoveryId => {
                    out.extend_from_slice(uuid(((n as u128) << 1) | 1).as_bytes())
                }
            }
        }
    }

    /// The `n` whose email, in lower case, is `wanted`.
    fn with_identifier(&self, wanted: &str) -> Option<usize> {
        let prefix = self.parts.first()?[0].to_lowercase();
        let digits: String = wanted
            .strip_prefix(&prefix)?
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let n: usize = digits.parse().ok()?;
        let mut email = Vec::new();
        for (index, part) in self.parts.iter().enumerate() {
            if index > 0 {
                email.extend_from_slice(digits.as_bytes());
            }
            email.extend_from_slice(part[0].to_lowercase().as_bytes());
        }
        (n < self.count && n.to_string() == digits && email == wanted.as_bytes()).then_some(n)
    }
}

/// A given list of identities, in the order given.
pub(super) struct Listed {
    bodies: Vec<Box<[u8]>>,
    ids: Vec<String>,
    positions: HashMap<String, usize>,
    identifiers: HashMap<String, Vec<usize>>,
    external_ids: Vec<(String, usize)>,
}

impl Listed {
    /// # Panics
    /// When an identity has no string `id`: the list is the test's own.
    pub fn new(identities: Vec<Value>) -> Self {
        let mut listed = Self {
            bodies: Vec::with_capacity(identities.len()),
            ids: Vec::with_capacity(identities.len()),
            positions: HashMap::with_capacity(identities.len()),
            identifiers: HashMap::new(),
            external_ids: Vec::new(),
        };
        for (position, identity) in identities.into_iter().enumerate() {
            let id = identity["id"]
                .as_str()
                .unwrap_or_else(|| panic!("identity {position} of the fake Kratos has no id"))
                .to_owned();
            let mut identifiers: Vec<String> = identity["credentials"]
                .as_object()
                .into_iter()
                .flat_map(|credentials| credentials.values())
                .filter_map(|credential| credential["identifiers"].as_array())
                .flatten()
                .filter_map(Value::as_str)
                .map(|identifier| identifier.trim().to_lowercase())
                .collect();
            identifiers.sort();
            identifiers.dedup();
            for identifier in identifiers {
                listed
                    .identifiers
                    .entry(identifier)
                    .or_default()
                    .push(position);
            }
            if let Some(external) = identity["external_id"].as_str().filter(|e| !e.is_empty()) {
                listed.external_ids.push((external.to_owned(), position));
            }
            listed.positions.entry(id.clone()).or_insert(position);
            listed.ids.push(id);
            listed.bodies.push(identity.to_string().into_bytes().into());
        }
        listed
    }
}
