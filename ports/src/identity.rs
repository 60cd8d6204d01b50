//! The identity provider port (Kratos): identities read by id, identifier or
//! `external_id`, listed page by page, and their `external_id` set or removed.

mod kratos_identity;

use async_trait::async_trait;

use crate::types::{AuthId, UserId};

pub use kratos_identity::{
    IdentityState, KratosIdentity, ProfileError, TraitPointers, VerifiableAddress,
};

/// An opaque continuation token for listing identities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageToken(pub String);

/// One page of identities and the token of the next one, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct IdentityPage {
    pub identities: Vec<KratosIdentity>,
    pub next: Option<PageToken>,
}

/// How a call to the identity provider failed.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("identity not found")]
    NotFound,
    /// The provider could not be reached, timed out or failed on its side, after retries.
    #[error("identity provider unavailable: {0}")]
    Unavailable(String),
    /// The provider answered with something that is not what its API promises.
    #[error("identity provider sent a malformed response: {0}")]
    Malformed(String),
    /// The change conflicts with another identity (for example an `external_id` taken).
    #[error("identity provider refused the change as conflicting: {0}")]
    Conflict(String),
    /// The provider refused the request (a 4xx other than 404 and 409).
    #[error("identity provider refused the request with status {status}: {message}")]
    Rejected { status: u16, message: String },
}

/// Read and (narrowly) write access to the identity provider (Kratos).
#[async_trait]
pub trait IdentityProvider: Send + Sync + 'static {
    /// Fetches one identity by id.
    ///
    /// # Errors
    /// `NotFound` when the provider has no such identity, `Unavailable` when it cannot be
    /// reached after retries, `Malformed` when its answer cannot be read.
    async fn get_identity(&self, id: AuthId) -> Result<KratosIdentity, IdentityError>;

    /// Finds identities whose credentials identifier equals `identifier` exactly.
    ///
    /// # Errors
    /// `Unavailable` or `Malformed` as for [`IdentityProvider::get_identity`].
    async fn find_by_identifier(
        &self,
        identifier: &str,
    ) -> Result<Vec<KratosIdentity>, IdentityError>;

    /// Lists one page of identities; `page` is `None` for the first page.
    ///
    /// # Errors
    /// `Unavailable` or `Malformed` as for [`IdentityProvider::get_identity`].
    async fn list_page(
        &self,
        page_size: u32,
        page: Option<PageToken>,
    ) -> Result<IdentityPage, IdentityError>;

    /// Sets the identity's `external_id` to the user id, so the provider can find the user.
    ///
    /// # Errors
    /// `Conflict` when another identity holds that external id, `NotFound`, `Unavailable`.
    async fn set_external_id(&self, id: AuthId, user: UserId) -> Result<(), IdentityError>;

    /// The identity whose `external_id` is `external_id`, if any.
    ///
    /// # Errors
    /// `Unavailable` or `Malformed` as for [`IdentityProvider::get_identity`].
    async fn find_by_external_id(
        &self,
        external_id: &str,
    ) -> Result<Option<KratosIdentity>, IdentityError>;

    /// Removes the identity's `external_id` (a link that moved elsewhere).
    ///
    /// # Errors
    /// `NotFound`, `Unavailable`, `Rejected`.
    async fn clear_external_id(&self, id: AuthId) -> Result<(), IdentityError>;

    /// Checks that the provider answers.
    ///
    /// # Errors
    /// `Unavailable` when it does not.
    async fn ping(&self) -> Result<(), IdentityError>;

    /// A short description for logs ("kratos at http://…", "fixture file …").
    fn describe(&self) -> String;
}
