//! The lookup strategy: one `credentials_identifier` query per user, batch by
//! batch. For small sets; a Kratos failure that outlives the retries marks
//! that user `error` and the run goes on.

use std::collections::HashMap;

use futures::StreamExt;
use identity_link_ports::{BackfillSession, Email, StagedKey, UserId, UserRef};

use super::{classify, found_by, BackfillError, RunContext};

pub(super) async fn run(
    run: &RunContext<'_>,
    session: &mut dyn BackfillSession,
) -> Result<(), BackfillError> {
    let options = run.options;
    let limit = u32::try_from(options.batch_size).unwrap_or(u32::MAX);
    run.progress.start_users(session.unlinked_count().await?);
    let mut after = None;
    loop {
        let users = session.unlinked_users(after, limit).await?;
        let Some(last) = users.last() else {
            return Ok(());
        };
        after = Some(last.id);
        let ids: Vec<UserId> = users.iter().map(|user| user.id).collect();
        let (keys, errors) = look_up(run, users).await;
        session.stage(&keys).await?;
        let verdicts = session
            .facts_for(&ids)
            .await?
            .iter()
            .map(|facts| {
                let error = errors.get(&facts.user).map(String::as_str);
                classify(facts, error, options.allow_unverified)
            })
            .collect();
        run.settle(verdicts).await?;
    }
}

/// Asks Kratos about each user, a few at once; returns the match keys of every
/// identity found and the users whose lookup failed.
async fn look_up(
    run: &RunContext<'_>,
    users: Vec<UserRef>,
) -> (Vec<StagedKey>, HashMap<UserId, String>) {
    let identities = run.app.identities.as_ref();
    let policy = &run.app.policy;
    // A stored email that is no address cannot match anything: no call.
    let mut found = futures::stream::iter(users)
        .filter_map(|user| {
            futures::future::ready(Email::new(&user.email).ok().map(|email| (user.id, email)))
        })
        .map(|(user, email)| async move {
            let result = identities.find_by_identifier(email.normalized()).await;
            (user, email, result)
        })
        .buffer_unordered(run.options.concurrency);
    let mut keys = Vec::new();
    let mut errors = HashMap::new();
    while let Some((user, email, result)) = found.next().await {
        match result {
            Ok(identities) => keys.extend(
                identities
                    .iter()
                    .flat_map(|identity| found_by(identity, policy, &email)),
            ),
            Err(error) => {
                tracing::warn!(user_id = %user, %error, "backfill: Kratos lookup failed");
                errors.insert(user, error.to_string());
            }
        }
    }
    (keys, errors)
}
