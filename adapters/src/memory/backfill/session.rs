//! A run's session in memory: its staging area and its walk over users.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use identity_link_ports::{
    AuthId, BackfillSession, CandidateFacts, RunEnd, RunPlan, RunState, StagedKey, StoreError,
    User, UserFacts, UserId, UserRef,
};

use crate::memory::state::{Shared, Users};

/// Identity match keys, indexed as the Postgres staging table is for lookups.
#[derive(Default)]
struct Stage {
    keys: Vec<StagedKey>,
    by_email: HashMap<String, Vec<usize>>,
    by_auth: HashMap<AuthId, Vec<usize>>,
}

impl Stage {
    fn add(&mut self, keys: &[StagedKey]) {
        for key in keys {
            let index = self.keys.len();
            self.by_email
                .entry(key.email_key.clone())
                .or_default()
                .push(index);
            self.by_auth.entry(key.auth_id).or_default().push(index);
            self.keys.push(key.clone());
        }
    }

    /// How many users hold one of the addresses of `key`'s identity. Only an
    /// identity with several addresses can match several users (emails are
    /// unique per user); any other counts its one holder.
    fn claimants(&self, users: &Users, key: &StagedKey) -> u32 {
        if key.keys <= 1 {
            return 1;
        }
        let holders: HashSet<UserId> = self
            .by_auth
            .get(&key.auth_id)
            .into_iter()
            .flatten()
            .map(|&index| &self.keys[index])
            .filter(|staged| staged.keys > 1)
            .filter_map(|staged| users.by_email(&staged.email_key))
            .map(|holder| holder.id)
            .collect();
        u32::try_from(holders.len()).unwrap_or(u32::MAX)
    }

    /// `user` with every staged identity matching its email, each once.
    fn facts(&self, users: &Users, user: &User) -> UserFacts {
        let mut candidates: Vec<CandidateFacts> = Vec::new();
        let staged = self.by_email.get(user.email.normalized());
        for key in staged.into_iter().flatten().map(|&index| &self.keys[index]) {
            if candidates.iter().any(|seen| seen.auth_id == key.auth_id) {
                continue;
            }
            candidates.push(CandidateFacts {
                auth_id: key.auth_id,
                verified: key.verified,
                active: key.active,
                usable: key.usable,
                linked_to: users.by_auth_id(key.auth_id).map(|owner| owner.id),
                claimants: self.claimants(users, key),
            });
        }
        UserFacts {
            user: user.id,
            email: user.email.as_str().to_owned(),
            current: user.auth_id,
            candidates,
        }
    }
}

pub(super) struct MemorySession {
    shared: Arc<Shared>,
    plan: RunPlan,
    stage: Stage,
    /// The unlinked users as they were when the walk opened, still to hand out.
    walk: Option<VecDeque<UserFacts>>,
    finished: bool,
}

impl MemorySession {
    pub(super) fn new(shared: Arc<Shared>, plan: RunPlan) -> Self {
        Self {
            shared,
            plan,
            stage: Stage::default(),
            walk: None,
            finished: false,
        }
    }
}

#[async_trait]
impl BackfillSession for MemorySession {
    async fn unlinked_count(&mut self) -> Result<u64, StoreError> {
        let users = self.shared.users();
        Ok(users
            .after(None)
            .filter(|user| user.auth_id.is_none())
            .count() as u64)
    }

    async fn stage(&mut self, keys: &[StagedKey]) -> Result<(), StoreError> {
        self.stage.add(keys);
        Ok(())
    }

    async fn open_walk(&mut self) -> Result<(), StoreError> {
        let users = self.shared.users();
        let walk = users
            .after(None)
            .filter(|user| user.auth_id.is_none())
            .map(|user| self.stage.facts(&users, user))
            .collect();
        self.walk = Some(walk);
        Ok(())
    }

    async fn next_facts(&mut self, max: usize) -> Result<Vec<UserFacts>, StoreError> {
        let walk = self
            .walk
            .as_mut()
            .ok_or_else(|| StoreError::Unknown(anyhow::anyhow!("no walk is open")))?;
        let take = max.max(1).min(walk.len());
        Ok(walk.drain(..take).collect())
    }

    async fn unlinked_users(
        &mut self,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<UserRef>, StoreError> {
        let users = self.shared.users();
        Ok(users
            .after(after)
            .filter(|user| user.auth_id.is_none())
            .take(limit as usize)
            .map(|user| UserRef {
                id: user.id,
                email: user.email.as_str().to_owned(),
            })
            .collect())
    }

    async fn facts_for(&mut self, wanted: &[UserId]) -> Result<Vec<UserFacts>, StoreError> {
        let mut wanted = wanted.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        let users = self.shared.users();
        Ok(wanted
            .into_iter()
            .filter_map(|id| users.get(id))
            .map(|user| self.stage.facts(&users, user))
            .collect())
    }

    async fn finish(mut self: Box<Self>, end: RunEnd) -> Result<(), StoreError> {
        self.finished = true;
        if self.plan.dry_run {
            return Ok(());
        }
        let mut runs = self.shared.runs();
        if let Some(run) = runs.run_mut(self.plan.id) {
            run.finished_at = Some(Utc::now());
            (run.state, run.failure) = match end {
                RunEnd::Finished => (RunState::Finished, None),
                RunEnd::Failed(reason) => (RunState::Failed, Some(reason)),
            };
        }
        runs.release(self.plan.id);
        Ok(())
    }
}

/// A session dropped unfinished is a run that ended without finishing: it
/// is interrupted, and its lock goes with it (as with a database session).
impl Drop for MemorySession {
    fn drop(&mut self) {
        if self.finished || self.plan.dry_run {
            return;
        }
        let mut runs = self.shared.runs();
        if let Some(run) = runs
            .run_mut(self.plan.id)
            .filter(|run| run.state == RunState::Running)
        {
            run.state = RunState::Interrupted;
            run.failure = Some("its session ended before the run finished".into());
        }
        runs.release(self.plan.id);
    }
}
