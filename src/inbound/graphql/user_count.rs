//! `adminUsers { totalCount totalCountIsEstimate }`: how many users match the
//! list's filter, asked of the store only when one of the two is selected and
//! bounded there, so that a count never reads millions of rows.

use async_graphql::{Context, Object, Result};
use identity_link_ports::{UserCount, UserFilter};
use tokio::sync::OnceCell;

use super::admin_call;
use super::error::from_admin;
use crate::usecases::admin::AdminError;

/// Users counted one by one; more than this many are estimated.
pub const EXACT_COUNT_UP_TO: u64 = 10_000;

/// The fields of the `adminUsers` connection beside its page.
pub struct UserCountFields {
    filter: UserFilter,
    /// Asked once, by whichever of the two fields resolves first.
    count: OnceCell<UserCount>,
}

impl UserCountFields {
    pub fn new(filter: UserFilter) -> Self {
        Self {
            filter,
            count: OnceCell::new(),
        }
    }

    async fn count(&self, ctx: &Context<'_>) -> Result<UserCount> {
        let (app, call) = admin_call(ctx)?;
        self.count
            .get_or_try_init(|| async {
                app.users
                    .count(&self.filter, EXACT_COUNT_UP_TO)
                    .await
                    .map_err(|error| from_admin(AdminError::from(error), call.correlation_id))
            })
            .await
            .copied()
    }
}

#[Object]
impl UserCountFields {
    /// How many users match `linked` and `search`, on every page. Exact up to
    /// 10,000; above that an estimate from the database's statistics (then
    /// `totalCountIsEstimate` is true). Computed only when selected.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i32> {
        let count = self.count(ctx).await?;
        Ok(i32::try_from(count.count).unwrap_or(i32::MAX))
    }

    /// Whether `totalCount` is an estimate: true when more than 10,000 users match.
    async fn total_count_is_estimate(&self, ctx: &Context<'_>) -> Result<bool> {
        Ok(self.count(ctx).await?.estimated)
    }
}
