//! Admin mutations: link and unlink by compare-and-set, audited under the admin.

use async_graphql::{Context, Object, Result};
use identity_link_ports::{AuthId, UserId};
use uuid::Uuid;

use super::admin_call;
use super::error::from_admin;
use super::types::AdminUserIdentity;
use crate::usecases::admin;

#[derive(Debug, Default)]
pub struct AdminMutation;

#[Object(name = "Mutation")]
impl AdminMutation {
    /// Links the user to the Kratos identity `authId`, only if the user's link is still
    /// `expectedAuthId` (null or omitted: the user is unlinked). The identity must exist
    /// in Kratos, be active and have a usable email. `CONFLICT` when the link changed
    /// meanwhile or the identity is linked to another user (unlink it there first).
    async fn admin_link_identity(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "userID")] user_id: Uuid,
        auth_id: Uuid,
        expected_auth_id: Option<Uuid>,
    ) -> Result<AdminUserIdentity> {
        let (app, call) = admin_call(ctx)?;
        admin::link_identity(
            app,
            UserId::new(user_id),
            AuthId::new(auth_id),
            expected_auth_id.map(AuthId::new),
            &call.context(),
        )
        .await
        .map(Into::into)
        .map_err(|error| from_admin(error, call.correlation_id))
    }

    /// Unlinks the user, only if it is still linked to `expectedAuthId`
    /// (`CONFLICT` otherwise).
    async fn admin_unlink_identity(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "userID")] user_id: Uuid,
        expected_auth_id: Uuid,
    ) -> Result<AdminUserIdentity> {
        let (app, call) = admin_call(ctx)?;
        admin::unlink_identity(
            app,
            UserId::new(user_id),
            AuthId::new(expected_auth_id),
            &call.context(),
        )
        .await
        .map(Into::into)
        .map_err(|error| from_admin(error, call.correlation_id))
    }
}
