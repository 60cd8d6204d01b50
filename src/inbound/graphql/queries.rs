//! Admin queries: users and their links, the audit, backfill reports.

use async_graphql::connection::{Connection, CursorType, Edge, OpaqueCursor};
use async_graphql::{Context, Object, Result};
use identity_link_ports::{AuthId, UserFilter, UserId};
use uuid::Uuid;

use super::admin_call;
use super::error::{bad_input, from_admin};
use super::types::{AdminAuditEvent, AdminUserIdentity, BackfillStatusCount};
use super::user_count::UserCountFields;
use crate::usecases::admin;

/// Page size of connections when `first` is not given.
pub const DEFAULT_PAGE: i32 = 50;
/// Largest `first` a connection or list accepts.
pub const MAX_PAGE: i32 = 100;
/// Longest `search` text.
const MAX_SEARCH_CHARS: usize = 200;

pub type UserCursor = OpaqueCursor<Uuid>;
pub type UserConnection = Connection<UserCursor, AdminUserIdentity, UserCountFields>;

fn page_size(first: Option<i32>, correlation_id: Uuid) -> Result<u32> {
    let first = first.unwrap_or(DEFAULT_PAGE);
    u32::try_from(first)
        .ok()
        .filter(|_| first <= MAX_PAGE)
        .ok_or_else(|| {
            bad_input(
                format!("`first` must be between 0 and {MAX_PAGE}, not {first}"),
                correlation_id,
            )
        })
}

#[derive(Debug, Default)]
pub struct AdminQuery;

#[Object(name = "Query")]
impl AdminQuery {
    /// The user with this id and its link. Unknown id: `NOT_FOUND`.
    async fn admin_user_identity(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "userID")] user_id: Uuid,
    ) -> Result<AdminUserIdentity> {
        let (app, call) = admin_call(ctx)?;
        admin::user(app, UserId::new(user_id))
            .await
            .map(Into::into)
            .map_err(|error| from_admin(error, call.correlation_id))
    }

    /// The user linked to this Kratos identity; null when none is.
    async fn admin_user_by_auth_id(
        &self,
        ctx: &Context<'_>,
        auth_id: Uuid,
    ) -> Result<Option<AdminUserIdentity>> {
        let (app, call) = admin_call(ctx)?;
        admin::user_by_auth_id(app, AuthId::new(auth_id))
            .await
            .map(|user| user.map(Into::into))
            .map_err(|error| from_admin(error, call.correlation_id))
    }

    /// Users in a stable order (by user id), `first` (default 50, at most 100) at a time
    /// after the opaque cursor `after`. `linked` keeps only linked (true) or unlinked
    /// (false) users; `search` matches email, first or last name, case-insensitively.
    /// `totalCount` counts every matching user, exactly up to 10,000 (see
    /// `totalCountIsEstimate`).
    #[graphql(
        complexity = "first.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE) as usize * child_complexity"
    )]
    async fn admin_users(
        &self,
        ctx: &Context<'_>,
        linked: Option<bool>,
        search: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<UserConnection> {
        let (app, call) = admin_call(ctx)?;
        let limit = page_size(first, call.correlation_id)?;
        let after = after
            .map(|cursor| {
                UserCursor::decode_cursor(&cursor)
                    .map(|cursor| UserId::new(cursor.0))
                    .map_err(|_| {
                        bad_input("`after` is not a cursor of this list", call.correlation_id)
                    })
            })
            .transpose()?;
        let search = search
            .map(|text| text.trim().to_owned())
            .filter(|text| !text.is_empty());
        if search
            .as_ref()
            .is_some_and(|text| text.chars().count() > MAX_SEARCH_CHARS)
        {
            return Err(bad_input(
                format!("`search` is longer than {MAX_SEARCH_CHARS} characters"),
                call.correlation_id,
            ));
        }
        let filter = UserFilter { linked, search };
        let page = admin::users(app, &filter, after, limit)
            .await
            .map_err(|error| from_admin(error, call.correlation_id))?;
        let mut connection = Connection::with_additional_fields(
            after.is_some(),
            page.has_more,
            UserCountFields::new(filter),
        );
        connection.edges.extend(page.users.into_iter().map(|user| {
            Edge::new(
                OpaqueCursor(user.id.as_uuid()),
                AdminUserIdentity::from(user),
            )
        }));
        Ok(connection)
    }

    /// Users per backfill resolution status, of run `runId` or of every run.
    async fn admin_backfill_report(
        &self,
        ctx: &Context<'_>,
        run_id: Option<Uuid>,
    ) -> Result<Vec<BackfillStatusCount>> {
        let (app, call) = admin_call(ctx)?;
        admin::backfill_report(app, run_id)
            .await
            .map(|counts| counts.into_iter().map(Into::into).collect())
            .map_err(|error| from_admin(error, call.correlation_id))
    }

    /// Audit events about a user (`userID`) or an identity (`authId`), newest first;
    /// `first` (default 50, at most 100) of them. Give at least one of the two ids.
    #[graphql(
        complexity = "first.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE) as usize * child_complexity"
    )]
    async fn admin_identity_audit(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "userID")] user_id: Option<Uuid>,
        auth_id: Option<Uuid>,
        first: Option<i32>,
    ) -> Result<Vec<AdminAuditEvent>> {
        let (app, call) = admin_call(ctx)?;
        let limit = page_size(first, call.correlation_id)?;
        admin::audit(
            app,
            user_id.map(UserId::new),
            auth_id.map(AuthId::new),
            limit,
        )
        .await
        .map(|events| events.into_iter().map(Into::into).collect())
        .map_err(|error| from_admin(error, call.correlation_id))
    }
}
