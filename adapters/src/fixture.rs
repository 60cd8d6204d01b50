//! Identities from a JSON file in Kratos's own format, or the bundled demo set:
//! an identity provider for running without a Kratos, and the in-process
//! Kratos of unit tests.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use identity_link_ports::{
    AuthId, IdentityError, IdentityPage, IdentityProvider, KratosIdentity, PageToken, UserId,
};
use serde_json::Value;

use crate::kratos::identity_from_json;

const DEMO: &str = include_str!("fixture/demo-identities.json");

#[derive(Default)]
struct Identities {
    ordered: Vec<KratosIdentity>,
    index: HashMap<AuthId, usize>,
}

/// Identities held in memory, served like Kratos's admin API.
pub struct FixtureIdentities {
    identities: RwLock<Identities>,
    origin: String,
}

impl FixtureIdentities {
    /// The bundled demo identities (see `fixture/demo-identities.json`).
    ///
    /// # Errors
    /// Never in practice: the bundled file is checked by a test.
    pub fn demo() -> anyhow::Result<Self> {
        Self::parse(DEMO, "bundled demo identities")
    }

    /// Identities from a JSON array file in Kratos's identity format.
    ///
    /// # Errors
    /// When the file cannot be read or is not an array of identities; the
    /// message names the file and the offending entry.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|error| {
            anyhow::anyhow!("cannot read the Kratos fixture {}: {error}", path.display())
        })?;
        Self::parse(&text, &format!("fixture file {}", path.display()))
    }

    fn parse(text: &str, origin: &str) -> anyhow::Result<Self> {
        let values: Vec<Value> = serde_json::from_str(text)
            .map_err(|error| anyhow::anyhow!("{origin} is not a JSON array: {error}"))?;
        let identities = values
            .into_iter()
            .enumerate()
            .map(|(n, value)| {
                identity_from_json(value)
                    .map_err(|error| anyhow::anyhow!("{origin}, entry {n}: {error}"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self::from_identities(identities, origin))
    }

    /// Identities given directly (tests).
    pub fn from_identities(identities: Vec<KratosIdentity>, origin: &str) -> Self {
        let fixture = Self {
            identities: RwLock::new(Identities::default()),
            origin: origin.to_owned(),
        };
        for identity in identities {
            fixture.upsert(identity);
        }
        fixture
    }

    fn read(&self) -> RwLockReadGuard<'_, Identities> {
        self.identities.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Identities> {
        self.identities.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds or replaces an identity.
    pub fn upsert(&self, identity: KratosIdentity) {
        let mut identities = self.write();
        match identities.index.get(&identity.id) {
            Some(&position) => identities.ordered[position] = identity,
            None => {
                let position = identities.ordered.len();
                identities.index.insert(identity.id, position);
                identities.ordered.push(identity);
            }
        }
    }

    /// Removes an identity, as a Kratos admin deletion would.
    pub fn remove(&self, id: AuthId) {
        let mut identities = self.write();
        identities.ordered.retain(|identity| identity.id != id);
        let index = identities
            .ordered
            .iter()
            .enumerate()
            .map(|(position, identity)| (identity.id, position))
            .collect();
        identities.index = index;
    }

    pub fn len(&self) -> usize {
        self.read().ordered.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl IdentityProvider for FixtureIdentities {
    async fn get_identity(&self, id: AuthId) -> Result<KratosIdentity, IdentityError> {
        let identities = self.read();
        identities
            .index
            .get(&id)
            .map(|&position| identities.ordered[position].clone())
            .ok_or(IdentityError::NotFound)
    }

    async fn find_by_identifier(
        &self,
        identifier: &str,
    ) -> Result<Vec<KratosIdentity>, IdentityError> {
        let wanted = identifier.trim().to_lowercase();
        Ok(self
            .read()
            .ordered
            .iter()
            .filter(|identity| {
                identity
                    .credential_identifiers
                    .iter()
                    .any(|known| known.to_lowercase() == wanted)
            })
            .cloned()
            .collect())
    }

    async fn list_page(
        &self,
        page_size: u32,
        page: Option<PageToken>,
    ) -> Result<IdentityPage, IdentityError> {
        let start = match page {
            None => 0,
            Some(PageToken(token)) => {
                token
                    .parse::<usize>()
                    .map_err(|_| IdentityError::Rejected {
                        status: 400,
                        message: format!("invalid page token {token:?}"),
                    })?
            }
        };
        let size = page_size.clamp(1, 500) as usize;
        let identities = self.read();
        let end = (start + size).min(identities.ordered.len());
        let slice = identities
            .ordered
            .get(start..end)
            .unwrap_or_default()
            .to_vec();
        let next = (end < identities.ordered.len()).then(|| PageToken(end.to_string()));
        Ok(IdentityPage {
            identities: slice,
            next,
        })
    }

    async fn set_external_id(&self, id: AuthId, user: UserId) -> Result<(), IdentityError> {
        let mut identities = self.write();
        let wanted = user.to_string();
        if identities
            .ordered
            .iter()
            .any(|identity| identity.id != id && identity.external_id.as_deref() == Some(&wanted))
        {
            return Err(IdentityError::Conflict("external_id already in use".into()));
        }
        let position = *identities.index.get(&id).ok_or(IdentityError::NotFound)?;
        identities.ordered[position].external_id = Some(wanted);
        Ok(())
    }

    async fn find_by_external_id(
        &self,
        external_id: &str,
    ) -> Result<Option<KratosIdentity>, IdentityError> {
        Ok(self
            .read()
            .ordered
            .iter()
            .find(|identity| identity.external_id.as_deref() == Some(external_id))
            .cloned())
    }

    async fn clear_external_id(&self, id: AuthId) -> Result<(), IdentityError> {
        let mut identities = self.write();
        let position = *identities.index.get(&id).ok_or(IdentityError::NotFound)?;
        identities.ordered[position].external_id = None;
        Ok(())
    }

    async fn ping(&self) -> Result<(), IdentityError> {
        Ok(())
    }

    fn describe(&self) -> String {
        self.origin.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_bundled_demo_set_loads_and_pages() {
        let demo = FixtureIdentities::demo().expect("bundled demo set parses");
        assert_eq!(demo.len(), 4);
        let first = demo.list_page(3, None).await.unwrap();
        assert_eq!(first.identities.len(), 3);
        let second = demo.list_page(3, first.next).await.unwrap();
        assert_eq!(second.identities.len(), 1);
        assert_eq!(second.next, None);
        let found = demo.find_by_identifier("ADA@example.com").await.unwrap();
        assert_eq!(found.len(), 1);
    }

    #[test]
    fn a_bad_fixture_names_the_file_and_entry() {
        let dir = std::env::temp_dir().join(format!("fixture-{}", uuid::Uuid::new_v4()));
        std::fs::write(&dir, r#"[{"id": "not-a-uuid", "traits": {}}]"#).unwrap();
        let error = FixtureIdentities::load(&dir)
            .err()
            .expect("rejected")
            .to_string();
        assert!(error.contains("entry 0"), "{error}");
        std::fs::remove_file(&dir).ok();
        let missing = FixtureIdentities::load(Path::new("/nonexistent/identities.json"));
        assert!(missing
            .err()
            .expect("rejected")
            .to_string()
            .contains("cannot read"));
    }
}
