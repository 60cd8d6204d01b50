//! One reconcile pass over both sides: the identities listed page by page and
//! compared with their linked users, then the linked users streamed in id order
//! to find those whose identity is gone.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use futures::future::OptionFuture;
use identity_link_ports::{
    AuthId, IdentityError, KratosIdentity, PageToken, StoreError, User, UserFilter,
};
use uuid::Uuid;

use super::*;
use crate::usecases::app::App;

/// The state of one pass.
pub(super) struct Scan<'a> {
    app: &'a App,
    /// Every identity id listed; sorted before the orphan search.
    seen: Vec<Uuid>,
    pub(super) counts: Counts,
    pub(super) orphaned: Vec<OrphanedUser>,
    pub(super) unlinked: Vec<UnlinkedIdentity>,
    pub(super) drifted: Vec<DriftedUser>,
    pub(super) mismatched: Vec<ExternalIdMismatch>,
}

impl<'a> Scan<'a> {
    pub(super) fn new(app: &'a App) -> Self {
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
    pub(super) async fn list_identities(&mut self) -> Result<(), ReconcileError> {
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
    pub(super) async fn find_orphans(
        &mut self,
        recent: DateTime<Utc>,
    ) -> Result<(), ReconcileError> {
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
