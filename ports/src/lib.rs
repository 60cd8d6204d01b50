//! Domain types and port traits of identity-link.
//!
//! Everything here speaks the domain's language only: no database, HTTP or
//! serialisation-framework types cross these traits. Adapters implement the
//! ports; use cases in the service crate depend on them as `Arc<dyn Port>`.

mod audit;
mod backfill;
pub mod decision;
mod identity;
mod session;
pub mod text;
mod types;
mod users;
mod webhook;
mod writeback;

pub use audit::{AuditError, AuditEvent, AuditLog, AuditOutcome, AuditQuery, AuditSource};
pub use backfill::{
    BackfillSession, BackfillStore, BeginError, CandidateFacts, ReportError, ResolutionStatus,
    RevertError, RevertOutcome, RunEnd, RunId, RunPlan, RunReport, RunState, StagedKey,
    StatusCount, StatusCounts, Strategy, UserFacts, UserRef, Verdict,
};
pub use identity::{
    IdentityError, IdentityPage, IdentityProvider, IdentityState, KratosIdentity, PageToken,
    ProfileError, TraitPointers, VerifiableAddress,
};
pub use session::{Session, SessionCredential, SessionError, SessionVerifier};
pub use types::{AuthId, Email, EmailError, NewUser, Profile, User, UserId};
pub use users::{
    ChangeRecord, CreateLinkedError, ImportOutcome, LinkError, StoreError, UserCount, UserFilter,
    UserPage, UserStore,
};
pub use webhook::{DeliveryRecord, TriggerId, TriggerIdError, WebhookDeliveries};
pub use writeback::{WriteBack, WriteBackQueue};
