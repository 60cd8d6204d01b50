//! The list strategy: page through every identity once (the next page is
//! fetched while the previous one is staged), then walk the unlinked users.
//! Kratos calls grow with identities / page size, never with users.

use std::sync::Arc;

use futures::TryStreamExt;
use identity_link_ports::{
    BackfillSession, IdentityError, IdentityProvider, KratosIdentity, PageToken, StagedKey,
};
use tokio::sync::mpsc;
use tracing::Instrument;

use super::{classify, staged_keys, BackfillError, RunContext};

/// Pages fetched ahead of staging.
const PAGES_AHEAD: usize = 2;

pub(super) async fn run(
    run: &RunContext<'_>,
    session: &mut dyn BackfillSession,
) -> Result<(), BackfillError> {
    let started = std::time::Instant::now();
    stage_identities(run, session).await?;
    tracing::info!(
        identities = run.identities(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "backfill: every identity listed and staged"
    );
    run.progress.start_users(session.unlinked_count().await?);
    session.open_walk().await?;
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "backfill: walking the unlinked users"
    );
    let options = run.options;
    let walk = futures::stream::try_unfold(session, |session| async move {
        let facts = session.next_facts(options.batch_size).await?;
        Ok::<_, BackfillError>((!facts.is_empty()).then_some((facts, session)))
    });
    walk.try_for_each_concurrent(options.concurrency, |facts| async move {
        let verdicts = facts
            .iter()
            .map(|facts| classify(facts, None, options.allow_unverified))
            .collect();
        Ok(run.settle(verdicts).await?)
    })
    .await
}

/// Lists every identity into the run's staging area.
async fn stage_identities(
    run: &RunContext<'_>,
    session: &mut dyn BackfillSession,
) -> Result<(), BackfillError> {
    let (sender, mut pages) = mpsc::channel(PAGES_AHEAD);
    let fetcher = tokio::spawn(
        fetch_pages(run.app.identities.clone(), run.options.page_size, sender).in_current_span(),
    );
    let policy = &run.app.policy;
    while let Some(page) = pages.recv().await {
        let identities = page.map_err(BackfillError::Listing)?;
        let keys: Vec<StagedKey> = identities
            .iter()
            .flat_map(|identity| staged_keys(identity, policy))
            .collect();
        session.stage(&keys).await?;
        run.listed(identities.len());
    }
    fetcher.await.map_err(|error| {
        BackfillError::Listing(IdentityError::Unavailable(format!(
            "the listing task failed: {error}"
        )))
    })
}

/// Follows `rel="next"` until the last page; sends each page, or the error
/// that ended the listing.
async fn fetch_pages(
    identities: Arc<dyn IdentityProvider>,
    page_size: u32,
    pages: mpsc::Sender<Result<Vec<KratosIdentity>, IdentityError>>,
) {
    let mut token: Option<PageToken> = None;
    for number in 1_u64.. {
        let span = tracing::info_span!("backfill_page", page = number);
        let listed = identities
            .list_page(page_size, token.clone())
            .instrument(span)
            .await;
        let page = match listed {
            Ok(page) => page,
            Err(error) => {
                let _ = pages.send(Err(error)).await;
                return;
            }
        };
        let next = page.next.filter(|next| Some(next) != token.as_ref());
        let last = page.identities.is_empty() || next.is_none();
        if pages.send(Ok(page.identities)).await.is_err() || last {
            return;
        }
        token = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use identity_link_adapters::fixture::FixtureIdentities;
    use identity_link_ports::{AuthId, IdentityState};
    use serde_json::json;

    fn identity(n: usize) -> KratosIdentity {
        KratosIdentity {
            id: AuthId::new(uuid::Uuid::new_v4()),
            state: IdentityState::Active,
            traits: json!({ "email": format!("user{n}@example.com") }),
            verifiable_addresses: vec![],
            credential_identifiers: vec![],
            external_id: None,
        }
    }

    #[tokio::test]
    async fn every_page_is_fetched_once_in_order() {
        let fixture = FixtureIdentities::from_identities((0..7).map(identity).collect(), "test");
        let (sender, mut pages) = mpsc::channel(1);
        let fetcher = tokio::spawn(fetch_pages(Arc::new(fixture), 3, sender));
        let mut sizes = Vec::new();
        while let Some(page) = pages.recv().await {
            sizes.push(page.expect("page").len());
        }
        fetcher.await.expect("fetcher");
        assert_eq!(sizes, [3, 3, 1]);
    }

    #[tokio::test]
    async fn a_listing_error_is_sent_and_ends_the_listing() {
        struct Down;
        #[async_trait::async_trait]
        impl IdentityProvider for Down {
            async fn get_identity(&self, _: AuthId) -> Result<KratosIdentity, IdentityError> {
                Err(IdentityError::NotFound)
            }
            async fn find_by_identifier(
                &self,
                _: &str,
            ) -> Result<Vec<KratosIdentity>, IdentityError> {
                Ok(vec![])
            }
            async fn list_page(
                &self,
                _: u32,
                _: Option<PageToken>,
            ) -> Result<identity_link_ports::IdentityPage, IdentityError> {
                Err(IdentityError::Unavailable("down".into()))
            }
            async fn set_external_id(
                &self,
                _: AuthId,
                _: identity_link_ports::UserId,
            ) -> Result<(), IdentityError> {
                Ok(())
            }
            async fn find_by_external_id(
                &self,
                _: &str,
            ) -> Result<Option<KratosIdentity>, IdentityError> {
                Ok(None)
            }
            async fn clear_external_id(&self, _: AuthId) -> Result<(), IdentityError> {
                Ok(())
            }
            async fn ping(&self) -> Result<(), IdentityError> {
                Ok(())
            }
            fn describe(&self) -> String {
                "down".into()
            }
        }
        let (sender, mut pages) = mpsc::channel(1);
        tokio::spawn(fetch_pages(Arc::new(Down), 3, sender));
        assert!(matches!(
            pages.recv().await,
            Some(Err(IdentityError::Unavailable(_)))
        ));
        assert!(pages.recv().await.is_none());
    }
}
