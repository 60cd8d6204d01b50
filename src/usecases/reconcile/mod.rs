//! Use case: compare both sides and report what rotted — users linked to
//! identities Kratos no longer has, active identities with no user, linked users
//! whose email or names differ from Kratos — optionally syncing the drifted
//! profiles from Kratos.
//!
//! One pass, bounded memory: identities are listed page by page (Kratos
//! `page_size` 500, the next page fetched while the current one is examined);
//! each page costs one store query for the users linked to its identities,
//! which finds unlinked identities and drift. The ids seen are kept as a
//! sorted vector (16 bytes each); the linked users are then streamed in id
//! order and checked against it, which finds orphans.

mod external_ids;
mod findings;
mod sync;
#[cfg(test)]
pub(crate) mod tests;

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use futures::future::OptionFuture;
use identity_link_ports::{
    AuditSource, AuthId, IdentityError, KratosIdentity, PageToken, StoreError, User, UserFilter,
};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::usecases::app::App;
use crate::usecases::call::CallContext;
use crate::usecases::metrics::Metrics;

pub use external_ids::ExternalIdMismatch;
pub use findings::{
    Differences, DriftedUser, EmailDifference, NameDifference, OrphanedUser, SyncOutcome,
    UnlinkedIdentity,
};

/// Identities per Kratos list call (Kratos's maximum).
pub const IDENTITY_PAGE_SIZE: u32 = 500;
/// Users per store page while looking for orphans.
const USER_PAGE_SIZE: u32 = 1000;
/// Links made after the run started minus this margin (clock skew between the
/// service and the database) may point at identities created after the listing
/// passed their place; such orphan candidates are confirmed with Kratos one by one.
const RECENT_LINK_MARGIN: TimeDelta = TimeDelta::minutes(5);

/// The `kind` labels of the `reconcile_findings` gauge.
pub const KINDS: [&str; 5] = [
    "orphaned_user",
    "unlinked_identity",
    "drifted_user",
    "sync_refused",
    "external_id_mismatch",
];

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReconcileOptions {
    /// Update drifted users' email and names from Kratos.
    pub sync_profiles: bool,
    /// Repair `external_id_mismatch` findings (only looked for with write-back on).
    pub sync_external_ids: bool,
}

/// Why a run could not complete; no report is produced then.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("listing identities from Kratos failed at page {page}: {error}")]
    ListIdentities { page: u64, error: IdentityError },
    #[error("checking whether Kratos still has identity {identity_id} failed: {error}")]
    CheckIdentity {
        identity_id: AuthId,
        error: IdentityError,
    },
    #[error("reading users failed: {0}")]
    Store(#[from] StoreError),
    #[error("syncing profiles stopped after {synced} of {drifted} updates: {error}")]
    Sync {
        synced: u64,
        drifted: u64,
        error: StoreError,
    },
}

/// How many of everything a run saw and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub identities: u64,
    pub kratos_pages: u64,
    pub linked_users: u64,
    pub orphaned_users: u64,
    pub unlinked_identities: u64,
    pub drifted_users: u64,
    /// Linked users whose identity has no usable email: not compared.
    pub not_compared: u64,
    pub synced: u64,
    pub sync_refused: u64,
    /// Linked identities whose `external_id` is not their user's id (write-back on).
    pub external_id_mismatches: u64,
    /// Of those, written by `--sync-external-ids` during the run.
    pub external_ids_written: u64,
}

/// The outcome of a complete run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The correlation id of the run's audit records.
    pub run_id: Uuid,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub sync_profiles: bool,
    pub counts: Counts,
    pub orphaned_users: Vec<OrphanedUser>,
    pub unlinked_identities: Vec<UnlinkedIdentity>,
    pub drifted_users: Vec<DriftedUser>,
    /// Only looked for when `WRITE_BACK_EXTERNAL_ID` is on.
    pub external_id_mismatches: Vec<ExternalIdMismatch>,
}

impl Report {
    pub fn has_findings(&self) -> bool {
        !(self.orphaned_users.is_empty()
            && self.unlinked_identities.is_empty()
            && self.drifted_users.is_empty()
            && self.external_id_mismatches.is_empty())
    }
}

/// Runs one reconcile pass; sets the `reconcile_findings` gauges when it completes.
///
/// # Errors
/// [`ReconcileError`] when Kratos or the store fails (after the Kratos client's
/// retries): the run is abandoned, never reported as complete.
pub async fn reconcile(app: &App, options: ReconcileOptions) -> Result<Report, ReconcileError> {
    let context = CallContext::new(AuditSource::Reconcile);
    let started_at = Utc::now();
    let mut scan = Scan::new(app);
    scan.list_identities().await?;
    scan.find_orphans(started_at - RECENT_LINK_MARGIN).await?;
    let mut report = Report {
        run_id: context.correlation_id,
        started_at,
        finished_at: started_at,
        sync_profiles: options.sync_profiles,
        counts: Counts {
            orphaned_users: scan.orphaned.len() as u64,
            unlinked_identities: scan.unlinked.len() as u64,
            drifted_users: scan.drifted.len() as u64,
            external_id_mismatches: scan.mismatched.len() as u64,
            ..scan.counts
        },
        orphaned_users: scan.orphaned,
        unlinked_identities: scan.unlinked,
        drifted_users: scan.drifted,
        external_id_mismatches: scan.mismatched,
    };
    if options.sync_external_ids {
        report.counts.external_ids_written =
            external_ids::repair(app, &context, &mut report.external_id_mismatches).await;
    }
    if options.sync_profiles {
        let (synced, refused) = sync::sync_profiles(app, &context, &mut report.drifted_users)
            .await
            .map_err(|failure| ReconcileError::Sync {
                synced: failure.synced,
                drifted: report.counts.drifted_users,
                error: failure.error,
            })?;
        report.counts.synced = synced;
        report.counts.sync_refused = refused;
    }
    report.finished_at = Utc::now();
    record_gauges(&app.metrics, &report.counts);
    tracing::info!(
        run_id = %report.run_id,
        identities = report.counts.identities,
        linked_users = report.counts.linked_users,
        orphaned_users = report.counts.orphaned_users,
        unlinked_identities = report.counts.unlinked_identities,
        drifted_users = report.counts.drifted_users,
        synced = report.counts.synced,
        sync_refused = report.counts.sync_refused,
        seconds = (report.finished_at - started_at).as_seconds_f64(),
        "reconcile finished"
    );
    Ok(report)
}

fn record_gauges(metrics: &Metrics, counts: &Counts) {
    let values = [
        counts.orphaned_users,
        counts.unlinked_identities,
        counts.drifted_users,
        counts.sync_refused,
        counts.external_id_mismatches,
    ];
    for (kind, value) in KINDS.into_iter().zip(values) {
        metrics
            .reconcile_findings
            .with_label_values(&[kind])
            .set(i64::try_from(value).unwrap_or(i64::MAX));
    }
}

/// The state of one pass.
struct Scan<'a> {
    app: &'a App,
    /// Every identity id listed; sorted before the orphan search.
    seen: Vec<Uuid>,
    counts: Counts,
    orphaned: Vec<OrphanedUser>,
    unlinked: Vec<UnlinkedIdentity>,
    drifted: Vec<DriftedUser>,
    mismatched: Vec<ExternalIdMismatch>,
}

impl<'a> Scan<'a> {
    fn new(app: &'a App) -> Self {
        Self {
            app,
            seen: Vec::new(),
            counts: Counts::default(),
            orphaned: Vec::new(),
            unlinked: Vec::new(),
            drifted: Vec::new(),
            mismatched: Vec::new(),
        }
    }

    /// Pages through every identity; the next page is fetched while the
    /// current one is examined.
    async fn list_identities(&mut self) -> Result<(), ReconcileError> {
        let identities = self.app.identities.clone();
        let mut fetched = identities.list_page(IDENTITY_PAGE_SIZE, None).await;
        let mut previous_token: Option<PageToken> = None;
        loop {
            let page_number = self.counts.kratos_pages + 1;
            let failed = |error| ReconcileError::ListIdentities {
                page: page_number,
                error,
            };
            let page = fetched.map_err(failed)?;
            self.counts.kratos_pages = page_number;
            if page.next.is_some() && page.next == previous_token {
                return Err(failed(IdentityError::Malformed(
                    "Kratos returned the same next page token twice".into(),
                )));
            }
            let next_fetch: OptionFuture<_> = page
                .next
                .clone()
                .map(|token| identities.list_page(IDENTITY_PAGE_SIZE, Some(token)))
                .into();
            let (examined, next) = tokio::join!(self.examine(&page.identities), next_fetch);
            examined?;
            match next {
                Some(result) => {
                    previous_token = page.next;
                    fetched = result;
                }
                None => return Ok(()),
            }
        }
    }

    /// Finds unlinked identities and drift on one page of identities.
    async fn examine(&mut self, identities: &[KratosIdentity]) -> Result<(), StoreError> {
        let ids: Vec<AuthId> = identities.iter().map(|identity| identity.id).collect();
        self.seen.extend(ids.iter().map(AuthId::as_uuid));
        self.counts.identities += ids.len() as u64;
        let linked: HashMap<AuthId, User> = self
            .app
            .users
            .find_by_auth_ids(&ids)
            .await?
            .into_iter()
            .filter_map(|user| user.auth_id.map(|auth_id| (auth_id, user)))
            .collect();
        let traits = &self.app.policy.traits;
        for identity in identities {
            if let (true, Some(user)) = (self.app.write_back_external_id, linked.get(&identity.id))
            {
                self.mismatched
                    .extend(external_ids::mismatch(user, identity));
            }
            match (linked.get(&identity.id), identity.profile(traits)) {
                (Some(user), Ok(profile)) => {
                    if let Some(differences) = Differences::between(user, &profile) {
                        self.drifted.push(DriftedUser {
                            user_id: user.id,
                            identity_id: identity.id,
                            differences,
                            sync: None,
                        });
                    }
                }
                (Some(user), Err(error)) => {
                    self.counts.not_compared += 1;
                    tracing::warn!(user_id = %user.id, identity_id = %identity.id, %error,
                        "linked identity has no usable email; profile not compared");
                }
                (None, _) if !identity.is_active() => {}
                (None, Ok(profile)) => self.unlinked.push(UnlinkedIdentity {
                    identity_id: identity.id,
                    email: Some(profile.email.as_str().to_owned()),
                    note: None,
                }),
                (None, Err(error)) => self.unlinked.push(UnlinkedIdentity {
                    identity_id: identity.id,
                    email: identity
                        .traits
                        .pointer(&traits.email)
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    note: Some(error.to_string()),
                }),
            }
        }
        Ok(())
    }

    /// Streams the linked users and reports those whose identity was not listed.
    async fn find_orphans(&mut self, recent: DateTime<Utc>) -> Result<(), ReconcileError> {
        self.seen.sort_unstable();
        self.seen.dedup();
        self.seen.shrink_to_fit();
        // Every user, not only the linked ones: a page of the whole list is
        // read in id order from the primary key whatever the statistics say,
        // while a linked-only filter right after a backfill (statistics still
        // saying "nobody is linked") was planned as a scan of every link and
        // a sort, for every page: quadratic in the users. Unlinked users are
        // skipped below.
        let everyone = UserFilter::default();
        let mut after = None;
        loop {
            let page = self
                .app
                .users
                .list(&everyone, after, USER_PAGE_SIZE)
                .await?;
            for user in &page.users {
                let Some(identity_id) = user.auth_id else {
                    continue;
                };
                self.counts.linked_users += 1;
                if self.seen.binary_search(&identity_id.as_uuid()).is_ok() {
                    continue;
                }
                // A link older than the listing names an identity that existed
                // when the listing began: not listed means gone.
                let linked_before = user.linked_at.is_some_and(|at| at < recent);
                if linked_before || self.is_gone(identity_id).await? {
                    self.orphaned.push(OrphanedUser {
                        user_id: user.id,
                        identity_id,
                        email: user.email.as_str().to_owned(),
                        linked_at: user.linked_at,
                    });
                }
            }
            after = page.users.last().map(|user| user.id);
            if !page.has_more {
                return Ok(());
            }
        }
    }

    async fn is_gone(&self, identity_id: AuthId) -> Result<bool, ReconcileError> {
        match self.app.identities.get_identity(identity_id).await {
            Ok(_) => Ok(false),
            Err(IdentityError::NotFound) => Ok(true),
            Err(error) => Err(ReconcileError::CheckIdentity { identity_id, error }),
        }
    }
}
